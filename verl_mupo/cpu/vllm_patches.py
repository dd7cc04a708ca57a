"""A ``vllm.general_plugins`` entry point (``verl_mupo_cpu``) for verl's vLLM rollout on CPU.

vLLM loads general plugins in every one of its processes (the process that builds the engine
arguments, the engine core, the workers: ``vllm/plugins/__init__.py``). :func:`register` does
nothing unless all of these hold: the CPU smoke backend is on (``VERL_MUPO_CPU=1``), vLLM runs on
its CPU platform (``current_platform.is_cpu()``), vllm is 0.24.x and verl 0.9.x
(:func:`verl_mupo.cpu.vllm_compat.supported`). On a GPU machine it returns at the first check that
fails and changes nothing. When it acts:

- **linear weights are kept** (:func:`keep_linear_weights`). vLLM's CPU linear layers repack their
  weight for oneDNN after loading and replace the parameter by an empty tensor
  (``vllm/model_executor/layers/linear.py:215`` calls ``dispatch_cpu_unquantized_gemm(layer,
  remove_weight=True)``; ``vllm/model_executor/layers/utils.py:273,290,304``). verl's weight sync
  loads each step's weights in place (``verl/workers/rollout/vllm_rollout/utils.py:405``,
  ``model.load_weights``) and fails with ``Attempted to load weight (torch.Size([64, 64])) into
  parameter (torch.Size([0]))``. With the weight kept, the sync writes into it and verl's call of
  ``process_weights_after_loading`` after each sync (``vllm_rollout/utils.py:353``) repacks from the
  new values. Costs one extra copy of the linear weights.
- **sleep mode is switched off** (:func:`no_sleep_mode`). verl always asks for it
  (``verl/workers/rollout/vllm_rollout/vllm_async_server.py:337``, ``RolloutConfig.enable_sleep_mode``
  defaults to True), vLLM's CPU platform has none and refuses the engine arguments
  (``vllm/config/model.py:520-522``, ``Sleep mode is not supported on current platform``). vLLM's
  CPU worker already ignores verl's sleep/wake-up calls (``vllm/v1/worker/cpu_worker.py:173,177``),
  so the engine is built as if ``enable_sleep_mode=False`` and verl keeps its GPU code path.
"""

from __future__ import annotations

import functools
import logging

from verl_mupo.cpu.vllm_compat import SUPPORTED_SERIES, backend_enabled, dist_version, supported

logger = logging.getLogger(__name__)


def skip_reason(enabled: bool, platform_is_cpu: bool, vllm: str | None, verl: str | None) -> str | None:
    """Why :func:`register` must change nothing, or ``None`` when it acts.

    Args:
        enabled: ``VERL_MUPO_CPU=1`` (:func:`verl_mupo.cpu.vllm_compat.backend_enabled`).
        platform_is_cpu: ``vllm.platforms.current_platform.is_cpu()``.
        vllm: the running vLLM's version (``vllm.__version__``).
        verl: verl's installed version.
    """
    if not enabled:
        return "the CPU backend is off (VERL_MUPO_CPU != 1)"
    if not platform_is_cpu:
        return "vLLM does not run on its CPU platform"
    if not supported("vllm", vllm):
        return f"vllm {vllm} is not {SUPPORTED_SERIES['vllm']}x"
    if not supported("verl", verl):
        return f"verl {verl} is not {SUPPORTED_SERIES['verl']}x"
    return None


def keep_linear_weights() -> bool:
    """``dispatch_cpu_unquantized_gemm`` always keeps ``layer.weight`` (``remove_weight=False``).
    Returns whether the wrapper was installed now."""
    import vllm.model_executor.layers.utils as layer_utils

    from verl_mupo.glue.patching import wrap_once

    def make(original):
        @functools.wraps(original)
        def dispatch_cpu_unquantized_gemm(layer, remove_weight, *args, **kwargs):
            return original(layer, False, *args, **kwargs)

        return dispatch_cpu_unquantized_gemm

    return wrap_once(layer_utils, "dispatch_cpu_unquantized_gemm", make)


def no_sleep_mode() -> bool:
    """``EngineArgs.create_model_config`` builds the model config with ``enable_sleep_mode=False``.
    Returns whether the wrapper was installed now."""
    from vllm.engine.arg_utils import EngineArgs

    from verl_mupo.glue.patching import wrap_once

    def make(original):
        @functools.wraps(original)
        def create_model_config(self, *args, **kwargs):
            if self.enable_sleep_mode:
                logger.info("verl_mupo CPU backend: vLLM's CPU platform has no sleep mode; building the "
                            "engine with enable_sleep_mode=False (the CPU worker ignores sleep/wake_up)")
                self.enable_sleep_mode = False
            return original(self, *args, **kwargs)

        return create_model_config

    return wrap_once(EngineArgs, "create_model_config", make)


def register() -> None:
    """The entry point vLLM calls in each of its processes; see the module docstring."""
    if not backend_enabled():  # before importing anything of vLLM's: a GPU process pays nothing
        return
    import vllm
    from vllm.platforms import current_platform

    reason = skip_reason(True, current_platform.is_cpu(), vllm.__version__, dist_version("verl"))
    if reason is not None:
        logger.info("verl_mupo CPU backend: vLLM left unpatched: %s", reason)
        return
    keep_linear_weights()
    no_sleep_mode()
