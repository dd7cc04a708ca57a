#!/usr/bin/env bash
# Figures and the summary table of the mechanism experiment (docs/mechanism.md), from the runs that
# recipes/mechanism/run.sh wrote.
#
#   bash recipes/mechanism/figures.sh                      # runs/mechanism -> docs/figures/mechanism_*.png
#   MECH_DIR=/tmp/m MECH_FIGURES=/tmp/m/fig bash recipes/mechanism/figures.sh
set -euo pipefail
PY="${PYTHON:-python}"
WORK="${MECH_DIR:-$PWD/runs/mechanism}"
OUT="${MECH_FIGURES:-$PWD/docs/figures}"
"$PY" -m verl_mupo.mechanism.analysis summary "$WORK"
"$PY" -m verl_mupo.mechanism.analysis figures "$WORK" --out "$OUT"
