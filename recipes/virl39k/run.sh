#!/usr/bin/env bash
# MUPO or GRPO on ViRL39K with Qwen2.5-VL, verl's FSDP + vLLM loop. The two algorithms differ only
# in the estimator and its reward terms. Settings and their sources: docs/reproduction.md.
#
#   bash recipes/virl39k/run.sh mupo 7b [extra hydra overrides]
#   DRY_RUN=1 bash recipes/virl39k/run.sh grpo 3b     # compose + validate the config, no GPU needed
#
# Environment (defaults in brackets):
#   MODEL_PATH [Qwen/Qwen2.5-VL-<size>-Instruct]  DATA_DIR [$HOME/data/mupo]
#   TRAIN_FILE [$DATA_DIR/virl39k/train.parquet]  VAL_FILES [the nine benchmark parquets in $DATA_DIR/eval]
#   EMBED_MODEL [Qwen/Qwen3-Embedding-0.6B]       N_GPUS [8]  NNODES [1]
#   OUT_DIR [$PWD/runs/virl39k/<algo>_<size>]     PYTHON [python]   LOGGER ['[console,wandb]']
set -euo pipefail
ALGO="${1:?usage: run.sh mupo|grpo 3b|7b [overrides]}"
SIZE="${2:?usage: run.sh mupo|grpo 3b|7b [overrides]}"
shift 2
PY="${PYTHON:-python}"
case "$ALGO" in
  mupo) EST=mupo; GROUP=paper ;;
  grpo) EST=grpo; GROUP=grpo_monitor ;;  # GRPO advantages, mupo/* diversity metrics logged
  *) echo "algorithm must be mupo or grpo" >&2; exit 2 ;;
esac
case "$SIZE" in
  3b) TP=1; MICRO=8; DEFAULT_MODEL=Qwen/Qwen2.5-VL-3B-Instruct ;;
  7b) TP=2; MICRO=4; DEFAULT_MODEL=Qwen/Qwen2.5-VL-7B-Instruct ;;
  *) echo "size must be 3b or 7b" >&2; exit 2 ;;
esac
MODEL_PATH="${MODEL_PATH:-$DEFAULT_MODEL}"
DATA_DIR="${DATA_DIR:-$HOME/data/mupo}"
TRAIN_FILE="${TRAIN_FILE:-$DATA_DIR/virl39k/train.parquet}"
E="$DATA_DIR/eval"
VAL_FILES="${VAL_FILES:-[$E/mathverse.parquet,$E/mathvista.parquet,$E/mathvision.parquet,$E/wemath.parquet,$E/logicvista.parquet,$E/dynamath.parquet,$E/mmstar.parquet,$E/hallusionbench.parquet,$E/mmvet.parquet]}"
EMBED_MODEL="${EMBED_MODEL:-Qwen/Qwen3-Embedding-0.6B}"
N_GPUS="${N_GPUS:-8}"
NNODES="${NNODES:-1}"
OUT_DIR="${OUT_DIR:-$PWD/runs/virl39k/${ALGO}_${SIZE}}"
LOGGER="${LOGGER:-[console,wandb]}"

export VERL_USE_EXTERNAL_MODULES=verl_mupo.verl_plugin  # a plugin failure stops the run at import

ARGS=(
  hydra.searchpath="[pkg://verl_mupo.hydra_config]" +mupo@algorithm.mupo="$GROUP"
  algorithm.adv_estimator="$EST" algorithm.norm_adv_by_std_in_grpo=True algorithm.use_kl_in_reward=False
  algorithm.mupo.embedder.model="$EMBED_MODEL" algorithm.mupo.embedder.placement=service
  reward.reward_manager.name=mupo
  reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score
  data.train_files="$TRAIN_FILE" data.val_files="$VAL_FILES" data.image_key=images
  data.train_batch_size=128 data.max_prompt_length=4096 data.max_response_length=2048
  data.filter_overlong_prompts=True data.truncation=error
  actor_rollout_ref.model.path="$MODEL_PATH" actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.actor.optim.lr=1e-6 actor_rollout_ref.actor.ppo_mini_batch_size=64
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO"
  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.01
  actor_rollout_ref.actor.kl_loss_type=low_var_kl actor_rollout_ref.actor.entropy_coeff=0
  actor_rollout_ref.actor.fsdp_config.param_offload=False actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
  actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.n=15 actor_rollout_ref.rollout.temperature=1.0
  actor_rollout_ref.rollout.tensor_model_parallel_size="$TP" actor_rollout_ref.rollout.gpu_memory_utilization=0.55
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16
  actor_rollout_ref.rollout.val_kwargs.n=4 actor_rollout_ref.rollout.val_kwargs.do_sample=True
  actor_rollout_ref.rollout.val_kwargs.temperature=1.0
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=16 actor_rollout_ref.ref.fsdp_config.param_offload=True
  trainer.n_gpus_per_node="$N_GPUS" trainer.nnodes="$NNODES" trainer.critic_warmup=0
  trainer.logger="$LOGGER" trainer.project_name=verl_mupo_virl39k trainer.experiment_name="${ALGO}_${SIZE}"
  trainer.total_epochs=2 trainer.test_freq=25 trainer.save_freq=50 trainer.val_before_train=True
  trainer.default_local_dir="$OUT_DIR/ckpt" trainer.validation_data_dir="$OUT_DIR/val_generations"
)

if [ "${DRY_RUN:-0}" = "1" ]; then
  exec "$PY" -m verl_mupo.dry_run "${ARGS[@]}" "$@"
fi
"$PY" -m verl_mupo.doctor
exec "$PY" -m verl.trainer.main_ppo "${ARGS[@]}" "$@"
