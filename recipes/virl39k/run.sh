#!/usr/bin/env bash
# MUPO or GRPO on ViRL39K with Qwen2.5-VL, verl's FSDP + vLLM loop. The two algorithms differ only
# in the estimator and its reward terms. Settings, their sources and the authors' alternatives:
# docs/reproduction.md; evaluation: docs/evaluation.md.
#
#   bash recipes/virl39k/run.sh mupo 7b [extra hydra overrides]
#   DRY_RUN=1 bash recipes/virl39k/run.sh grpo 3b     # compose + validate the config, no GPU needed
#   PRESET=authors bash recipes/virl39k/run.sh mupo 7b # the authors' scripts' batch, clip, group filter, top_p
#   MODE=eval bash recipes/virl39k/run.sh mupo 7b      # acc@1 greedy + acc@k sampled on the latest checkpoint
#
# Environment (defaults in brackets):
#   MODEL_PATH [Qwen/Qwen2.5-VL-<size>-Instruct]  DATA_DIR [$HOME/data/mupo]
#   TRAIN_FILE [$DATA_DIR/virl39k/train.parquet]
#   BENCHMARKS [readme]: readme = the nine of the authors' README (MathVerse, MathVista, MathVision,
#       LogicVista, WeMath, Geometry3K, MMStar, HallusionBench, MMVet); eval_script = MMMU in
#       Geometry3K's place, as the authors' evaluation script; or catalog keys, comma-separated
#   VAL_FILES [the BENCHMARKS' parquets in $DATA_DIR/eval, file names from verl_mupo.data.benchmarks.CATALOG]
#   EMBED_MODEL [Qwen/Qwen3-Embedding-0.6B]       N_GPUS [8]  NNODES [1]
#   OUT_DIR [$PWD/runs/virl39k/<algo>_<size>]     PYTHON [python]   LOGGER ['[console,wandb,file]']
#   VERL_FILE_LOGGER_PATH [$OUT_DIR/metrics/<date-time>.jsonl: one file per launch, the report merges them]
#   Step settings (PRESET=paper: ours; PRESET=authors: the authors' scripts), each settable alone:
#     TRAIN_BATCH [128 | 384] prompts per step      MINI_BATCH [64 | 128] prompts per PPO update
#     CLIP_HIGH [0.2 | 0.28] clip-higher            TOP_P [1.0 | 0.99] rollout top_p
#     FILTER_GROUPS [0 | 1] drop prompts whose n rollouts are all right or all wrong, and refill
#       (verl's algorithm.filter_groups on acc; the authors' accuracy <= 0.01 or >= 0.99 with n=15).
#       Formerly ONLINE_FILTER, now refused: MUPO's own online filter is algorithm.mupo.online_filtering
#   Validation during training: TEST_FREQ [25]  VAL_N [4]  VAL_TEMPERATURE [1.0]
#   MODE=eval: EVAL_N [8] samples per prompt at temperature 1.0; CKPT [the latest checkpoint in
#     $OUT_DIR/ckpt, the base model if there is none; or a .../global_step_N folder]; OVERWRITE [0]:
#     1 deletes $OUT_DIR/eval/{greedy,sampled,acc.txt} of an earlier evaluation before the new one
#   DRY_RUN [0]
# The numeric settings (their defaults too) are checked first, in every run: ranges in
# verl_mupo.recipe_settings.RECIPE_SETTINGS, pairs (MINI_BATCH <= TRAIN_BATCH) in
# verl_mupo.recipe_settings.RECIPE_RELATIONS; a bad one stops the recipe with exit code 2, naming it.
set -euo pipefail
ALGO="${1:?usage: run.sh mupo|grpo 3b|7b [overrides]}"
SIZE="${2:?usage: run.sh mupo|grpo 3b|7b [overrides]}"
shift 2
PY="${PYTHON:-python}"
die() { echo "run.sh: $*" >&2; exit 2; }
case "$ALGO" in
  mupo) EST=mupo; GROUP=paper ;;
  grpo) EST=grpo; GROUP=grpo_monitor ;;  # GRPO advantages, mupo/* and val-mupo/* metrics logged
  *) die "algorithm must be mupo or grpo, got '$ALGO'" ;;
esac
case "$SIZE" in
  3b) TP=1; MICRO=8; DEFAULT_MODEL=Qwen/Qwen2.5-VL-3B-Instruct ;;
  7b) TP=2; MICRO=4; DEFAULT_MODEL=Qwen/Qwen2.5-VL-7B-Instruct ;;
  *) die "size must be 3b or 7b, got '$SIZE'" ;;
esac
case "${PRESET:-paper}" in
  paper) P_BATCH=128; P_MINI=64; P_CLIP=0.2; P_TOP_P=1.0; P_FILTER_GROUPS=0 ;;
  authors) P_BATCH=384; P_MINI=128; P_CLIP=0.28; P_TOP_P=0.99; P_FILTER_GROUPS=1 ;;
  *) die "PRESET must be paper or authors, got '$PRESET'" ;;
esac
MODE="${MODE:-train}"
case "$MODE" in train|eval) ;; *) die "MODE must be train or eval, got '$MODE'" ;; esac
TRAIN_BATCH="${TRAIN_BATCH:-$P_BATCH}"
MINI_BATCH="${MINI_BATCH:-$P_MINI}"
CLIP_HIGH="${CLIP_HIGH:-$P_CLIP}"
TOP_P="${TOP_P:-$P_TOP_P}"
FILTER_GROUPS="${FILTER_GROUPS:-$P_FILTER_GROUPS}"
TEST_FREQ="${TEST_FREQ:-25}"
VAL_N="${VAL_N:-4}"
VAL_TEMPERATURE="${VAL_TEMPERATURE:-1.0}"
EVAL_N="${EVAL_N:-8}"
N_GPUS="${N_GPUS:-8}"
NNODES="${NNODES:-1}"
DRY_RUN="${DRY_RUN:-0}"
OVERWRITE="${OVERWRITE:-0}"
# before anything else, in a real run as in a dry run: each numeric setting in its range, and the pairs
"$PY" -m verl_mupo.recipe_settings TRAIN_BATCH="$TRAIN_BATCH" MINI_BATCH="$MINI_BATCH" \
  CLIP_HIGH="$CLIP_HIGH" TOP_P="$TOP_P" FILTER_GROUPS="$FILTER_GROUPS" TEST_FREQ="$TEST_FREQ" VAL_N="$VAL_N" \
  VAL_TEMPERATURE="$VAL_TEMPERATURE" EVAL_N="$EVAL_N" N_GPUS="$N_GPUS" NNODES="$NNODES" DRY_RUN="$DRY_RUN" \
  OVERWRITE="$OVERWRITE" ${ONLINE_FILTER+ONLINE_FILTER="$ONLINE_FILTER"} || exit 2  # a renamed setting is refused
if [ "$FILTER_GROUPS" = 1 ]; then FILTER=True; else FILTER=False; fi
MODEL_PATH="${MODEL_PATH:-$DEFAULT_MODEL}"
DATA_DIR="${DATA_DIR:-$HOME/data/mupo}"
TRAIN_FILE="${TRAIN_FILE:-$DATA_DIR/virl39k/train.parquet}"
if [ -z "${VAL_FILES:-}" ]; then
  # the benchmark file names have one home: the data catalog
  VAL_FILES=$("$PY" - "$DATA_DIR/eval" "${BENCHMARKS:-readme}" <<'EOF'
import sys
from verl_mupo.data.benchmarks import CATALOG, DEFAULT_BENCHMARKS, val_files
eval_dir, choice = sys.argv[1:3]
if choice == "readme":
    keys = DEFAULT_BENCHMARKS
elif choice == "eval_script":  # the authors' evaluation script: MMMU_DEV_VAL where the README has Geometry3K
    keys = tuple("mmmu" if k == "geometry3k" else k for k in DEFAULT_BENCHMARKS)
else:
    keys = tuple(k.strip() for k in choice.split(",") if k.strip())
    unknown = [k for k in keys if k not in CATALOG]
    if unknown or not keys:
        sys.exit(f"run.sh: BENCHMARKS={choice!r}: unknown {unknown}; use readme, eval_script or keys of {sorted(CATALOG)}")
print("[" + ",".join(val_files(eval_dir, keys)) + "]")
EOF
) || exit 2
fi
EMBED_MODEL="${EMBED_MODEL:-Qwen/Qwen3-Embedding-0.6B}"
OUT_DIR="${OUT_DIR:-$PWD/runs/virl39k/${ALGO}_${SIZE}}"
LOGGER="${LOGGER:-[console,wandb,file]}"

export VERL_USE_EXTERNAL_MODULES=verl_mupo.verl_plugin  # a plugin failure stops the run at import

ARGS=(
  hydra.searchpath="[pkg://verl_mupo.hydra_config]" +mupo@algorithm.mupo="$GROUP"
  algorithm.adv_estimator="$EST" algorithm.norm_adv_by_std_in_grpo=True algorithm.use_kl_in_reward=False
  algorithm.mupo.embedder.model="$EMBED_MODEL" algorithm.mupo.embedder.placement=service
  algorithm.filter_groups.enable="$FILTER" algorithm.filter_groups.metric=acc
  reward.reward_manager.name=mupo
  reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score
  data.train_files="$TRAIN_FILE" data.val_files="$VAL_FILES" data.image_key=images
  data.train_batch_size="$TRAIN_BATCH" data.max_prompt_length=4096 data.max_response_length=2048
  data.filter_overlong_prompts=True data.truncation=error
  actor_rollout_ref.model.path="$MODEL_PATH" actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.actor.optim.lr=1e-6 actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH"
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO"
  actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high="$CLIP_HIGH"
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.01
  actor_rollout_ref.actor.kl_loss_type=low_var_kl actor_rollout_ref.actor.entropy_coeff=0
  actor_rollout_ref.actor.fsdp_config.param_offload=False actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=15 actor_rollout_ref.rollout.temperature=1.0
  actor_rollout_ref.rollout.top_p="$TOP_P"
  actor_rollout_ref.rollout.tensor_model_parallel_size="$TP" actor_rollout_ref.rollout.gpu_memory_utilization=0.55
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16
  actor_rollout_ref.rollout.val_kwargs.n="$VAL_N" actor_rollout_ref.rollout.val_kwargs.do_sample=True
  actor_rollout_ref.rollout.val_kwargs.temperature="$VAL_TEMPERATURE" actor_rollout_ref.rollout.val_kwargs.top_p=1.0
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=16 actor_rollout_ref.ref.fsdp_config.param_offload=True
  trainer.n_gpus_per_node="$N_GPUS" trainer.nnodes="$NNODES" trainer.critic_warmup=0
  trainer.logger="$LOGGER" trainer.project_name=verl_mupo_virl39k trainer.experiment_name="${ALGO}_${SIZE}"
  trainer.total_epochs=2 trainer.test_freq="$TEST_FREQ" trainer.save_freq=50 trainer.val_before_train=True
  trainer.default_local_dir="$OUT_DIR/ckpt" trainer.validation_data_dir="$OUT_DIR/val_generations"
)

# one verl run: DRY_RUN=1 composes and validates it only
launch() {  # $1: the file-logger path; then the overrides
  local log_path="$1"
  shift
  if [ "$DRY_RUN" = 1 ]; then
    "$PY" -m verl_mupo.dry_run "$@"
    return
  fi
  mkdir -p "$(dirname "$log_path")"
  VERL_FILE_LOGGER_PATH="$log_path" "$PY" -m verl.trainer.main_ppo "$@"
}

EVAL_DIR="$OUT_DIR/eval"
if [ "$MODE" = eval ] && [ "$DRY_RUN" != 1 ] && [ -n "${CKPT:-}" ] && [ ! -d "$CKPT" ]; then
  die "CKPT=$CKPT: no such folder (a checkpoint folder .../global_step_N, or unset for the latest in $OUT_DIR/ckpt)"
fi
if [ "$MODE" = eval ] && [ "$DRY_RUN" != 1 ] && [ "$OVERWRITE" != 1 ]; then
  for d in "$EVAL_DIR/greedy" "$EVAL_DIR/sampled"; do
    if [ -e "$d" ] && { [ ! -d "$d" ] || [ -n "$(ls -A "$d")" ]; }; then
      die "$d is not empty (an earlier evaluation); set OVERWRITE=1 to replace it, or another OUT_DIR"
    fi
  done
fi
if [ "$DRY_RUN" != 1 ]; then
  "$PY" -m verl_mupo.doctor
fi
if [ "$MODE" = eval ] && [ "$DRY_RUN" != 1 ] && [ "$OVERWRITE" = 1 ]; then
  # replace, not add to: verl names dumps by step, so an earlier checkpoint's <step>.jsonl, embeddings and
  # records would stay beside the new ones (and a newer step would be the one the table reads)
  for d in "$EVAL_DIR/greedy" "$EVAL_DIR/sampled" "$EVAL_DIR/acc.txt"; do
    if [ -e "$d" ] || [ -L "$d" ]; then
      rm -rf -- "$d"
      echo "run.sh: OVERWRITE=1: removed $d (the earlier evaluation)" >&2
    fi
  done
fi

if [ "$MODE" = train ]; then
  launch "${VERL_FILE_LOGGER_PATH:-$OUT_DIR/metrics/$(date +%Y%m%d-%H%M%S).jsonl}" "${ARGS[@]}" "$@"
  exit $?
fi

# MODE=eval: verl's trainer.val_only twice on one checkpoint: greedy (n=1, temperature 0, as the authors'
# evaluation) and sampled (EVAL_N at temperature 1.0, for acc@1 as a mean and acc@k), then the table
if [ -n "${CKPT:-}" ]; then
  RESUME=(trainer.resume_mode=resume_path trainer.resume_from_path="$CKPT")
else
  RESUME=(trainer.resume_mode=auto)  # the latest checkpoint in $OUT_DIR/ckpt; the base model if there is none
fi
EVAL_COMMON=(trainer.val_only=True trainer.val_before_train=True "${RESUME[@]}" trainer.logger='[console,file]')
launch "$EVAL_DIR/greedy/metrics.jsonl" "${ARGS[@]}" "${EVAL_COMMON[@]}" \
  actor_rollout_ref.rollout.val_kwargs.n=1 actor_rollout_ref.rollout.val_kwargs.temperature=0 \
  actor_rollout_ref.rollout.val_kwargs.do_sample=False trainer.validation_data_dir="$EVAL_DIR/greedy" "$@"
launch "$EVAL_DIR/sampled/metrics.jsonl" "${ARGS[@]}" "${EVAL_COMMON[@]}" \
  actor_rollout_ref.rollout.val_kwargs.n="$EVAL_N" actor_rollout_ref.rollout.val_kwargs.temperature=1.0 \
  actor_rollout_ref.rollout.val_kwargs.do_sample=True trainer.validation_data_dir="$EVAL_DIR/sampled" "$@"
if [ "$DRY_RUN" != 1 ]; then
  # acc@1 both ways, and acc@4 where EVAL_N allows it (acc@EVAL_N below 4 samples)
  "$PY" -m verl_mupo.evaluation "$EVAL_DIR/greedy" "$EVAL_DIR/sampled" -k 1 $(( EVAL_N < 4 ? EVAL_N : 4 )) \
    | tee "$EVAL_DIR/acc.txt"
fi
