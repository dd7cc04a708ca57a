"""CPU smoke backend for verl 0.9.1: runs verl's real PPO loop on a machine without a GPU.

For smoke runs and tests of the MUPO integration, not for speed. Activated only by
``VERL_MUPO_CPU=1`` (the plugin then imports this package in every process that imports verl) and
refused when CUDA is visible. It registers:

- a ``cpu`` platform in verl's ``PlatformRegistry`` (gloo collectives, Ray's logical ``GPU``
  resource, ``torch.cpu`` as the device module) - select it with ``VERL_PLATFORM=cpu``;
- a ``hf`` rollout (``actor_rollout_ref.rollout.name=hf``): a Ray actor that generates with
  ``transformers``, batching concurrent requests, returning token log-probs, and taking the
  trainer's weights every step.

``verl_mupo.cpu.assets`` builds the tiny tokenizer, model and dataset the smoke run uses.
"""

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
