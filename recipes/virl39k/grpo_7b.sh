#!/usr/bin/env bash
# GRPO on ViRL39K with Qwen2.5-VL-7B (8 GPUs); DRY_RUN=1 validates the config without a GPU.
exec bash "$(dirname "$0")/run.sh" grpo 7b "$@"
