"""A ``cpu`` platform for verl's ``PlatformRegistry``."""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from typing import Any, Optional

import torch

from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry


def _zero(*args, **kwargs):
    return 0


def _none(*args, **kwargs):
    return None


class _Stream:
    def __init__(self, *args, **kwargs):
        pass

    def synchronize(self):
        return None

    def wait_stream(self, *args, **kwargs):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Event:
    def __init__(self, *args, **kwargs):
        pass

    def record(self, *args, **kwargs):
        return None

    def synchronize(self):
        return None

    def wait(self, *args, **kwargs):
        return None


def _make_device_module() -> types.ModuleType:
    """``torch.cpu`` plus the memory, stream and RNG calls verl makes on an accelerator module."""
    mod = types.ModuleType("verl_mupo_cpu_device")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(mod, name, getattr(torch.cpu, name))
    total = 24 << 30
    mod.is_available = lambda: True
    mod.device_count = lambda: 1
    mod.current_device = lambda: "cpu"
    mod.set_device = _none
    mod.synchronize = _none
    mod.empty_cache = _none
    mod.ipc_collect = _none
    mod.memory_allocated = _zero
    mod.memory_reserved = _zero
    mod.max_memory_allocated = _zero
    mod.max_memory_reserved = _zero
    mod.reset_peak_memory_stats = _none
    mod.set_per_process_memory_fraction = _none
    mod.mem_get_info = lambda *a, **k: (total, total)
    mod.get_device_name = lambda *a, **k: "cpu"
    mod.get_rng_state = lambda *a, **k: torch.get_rng_state()
    mod.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    mod.manual_seed = lambda seed: torch.manual_seed(seed)
    mod.manual_seed_all = lambda seed: torch.manual_seed(seed)
    mod.current_stream = lambda *a, **k: _Stream()
    mod.stream = lambda *a, **k: contextlib.nullcontext()
    mod.Stream = _Stream
    mod.Event = _Event
    return mod


_DEVICE_MODULE = _make_device_module()


@PlatformRegistry.register(platform="cpu")
class PlatformCPU(PlatformBase):
    """verl on CPU tensors with gloo collectives. Ray still schedules on a logical ``GPU``
    resource (``ray_init.num_gpus``), because verl's resource pools ask for GPUs."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check=False) -> bool:
        return True

    def current_device(self):
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0):
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        return {}

    def get_collective_module(self) -> Any:
        return None

    def cudart(self) -> Any:
        return None


def _patch_process_group_backend() -> None:
    """verl builds ``"cpu:gloo,<device>:<backend>"``, which is ``"cpu:gloo,cpu:gloo"`` here and
    rejected by torch; use plain ``gloo``."""
    import verl.utils.distributed as dist_utils

    from verl_mupo.glue.patching import wrap_once

    def make(original):
        @functools.wraps(original)
        def initialize_global_process_group_ray(timeout_second=None, backend=None):
            return original(timeout_second=timeout_second, backend=backend or "gloo")

        return initialize_global_process_group_ray

    wrap_once(dist_utils, "initialize_global_process_group_ray", make,
              rebind_in=("verl.workers.engine_workers", "verl.checkpoint_engine.base"))


_patch_process_group_backend()
