#!/usr/bin/env bash
# acc@1 both ways and acc@k of a ViRL39K run's checkpoint (verl's trainer.val_only twice: greedy, then
# EVAL_N samples at temperature 1.0), then the table of python -m verl_mupo.evaluation. See docs/evaluation.md.
#
#   bash recipes/virl39k/eval.sh mupo 7b                 # the latest checkpoint in $OUT_DIR/ckpt
#   CKPT=runs/virl39k/mupo_7b/ckpt/global_step_300 bash recipes/virl39k/eval.sh mupo 7b
#   OUT_DIR=runs/base_7b bash recipes/virl39k/eval.sh grpo 7b   # no checkpoint there: the base model
#   DRY_RUN=1 bash recipes/virl39k/eval.sh mupo 3b       # compose + validate both passes, no GPU
# Environment: as run.sh, plus EVAL_N [8], CKPT, OVERWRITE [0] (an earlier evaluation in $OUT_DIR/eval is
# refused; OVERWRITE=1 deletes its greedy/, sampled/ and acc.txt first).
MODE=eval exec bash "$(dirname "$0")/run.sh" "$@"
