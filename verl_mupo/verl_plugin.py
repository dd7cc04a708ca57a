"""verl plugin entry point (``verl.plugins: mupo = verl_mupo.verl_plugin``).

Importing this module registers, in the process that imports verl:

- ``mupo`` in verl's advantage-estimator registry (``algorithm.adv_estimator=mupo``);
- ``mupo`` in verl 0.9.1's reward-manager registry (``reward.reward_manager.name=mupo``);
- the MUPO checks inside ``verl.utils.config.validate_config``;
- post-import hooks that wrap the advantage step and the validation methods of verl's v1 trainer
  (``PPOTrainer``) and of its legacy trainer (``RayPPOTrainer``) when their modules are imported
  (only processes that train import them); they act only in runs that ask for verl-mupo
  (:mod:`verl_mupo.glue.scope`);
- the mRoPE position-id fix (:mod:`verl_mupo.glue.mrope_fix`), in every run;
- with ``VERL_MUPO_CPU=1``, the CPU smoke backend (:mod:`verl_mupo.cpu`).

No CUDA, no model loading and no Ray calls happen here. verl logs a failing plugin at DEBUG level
only, so failures are logged here at WARNING with the traceback, then re-raised.
"""

from __future__ import annotations

import functools
import importlib.abc
import logging
import os
import sys
import traceback

logger = logging.getLogger("verl_mupo")

from verl_mupo.glue.versions import check_verl_version  # noqa: E402  (the version guard)


# verl module -> the verl_mupo functions ("module:function", each idempotent, taking the module) that
# patch it. Each runs right after the module executes, or at once if it is already imported. Imported
# lazily, so the plugin stays light in processes that never import these modules.
POST_IMPORT_PATCHES: dict[str, tuple[str, ...]] = {
    "verl.trainer.ppo.v1.trainer_base": ("verl_mupo.glue.trainer_hook:patch_trainer",
                                         "verl_mupo.glue.validation_metrics:patch_trainer"),
    "verl.trainer.ppo.ray_trainer": ("verl_mupo.glue.legacy_hook:patch_ray_trainer",
                                     "verl_mupo.glue.validation_metrics:patch_legacy_trainer"),
    "verl.utils.tensordict_utils": ("verl_mupo.glue.mrope_fix:patch_tensordict_utils",),
    "verl.workers.utils.padding": ("verl_mupo.glue.mrope_fix:patch_padding",),
}


def _run_patches(module) -> None:
    for target in POST_IMPORT_PATCHES.get(module.__name__, ()):
        module_name, _, func = target.partition(":")
        getattr(importlib.import_module(module_name), func)(module)


class _PostImportPatcher(importlib.abc.MetaPathFinder):
    """Runs the :data:`POST_IMPORT_PATCHES` of a verl module right after it executes."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in POST_IMPORT_PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                loader = spec.loader
                original_exec = loader.exec_module

                def exec_module(module, _orig=original_exec):
                    _orig(module)
                    _run_patches(module)

                loader.exec_module = exec_module
                return spec
        return None


def _install_post_import_patches() -> None:
    for name in POST_IMPORT_PATCHES:
        if name in sys.modules:
            _run_patches(sys.modules[name])
    if not any(isinstance(f, _PostImportPatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportPatcher())


def _wrap_validate_config() -> None:
    import verl.utils.config as config_module

    from verl_mupo.glue.config_checks import check_mupo_config
    from verl_mupo.glue.patching import wrap_once

    def make(original):
        @functools.wraps(original)
        def validate_config(config, *args, **kwargs):
            result = original(config, *args, **kwargs)
            check_mupo_config(config)
            return result

        return validate_config

    wrap_once(config_module, "validate_config", make)


def register() -> None:
    check_verl_version()
    import verl_mupo.glue.estimator  # noqa: F401  registers adv_estimator "mupo"
    import verl_mupo.glue.reward_manager  # noqa: F401  registers reward manager "mupo"

    _wrap_validate_config()
    _install_post_import_patches()
    if os.environ.get("VERL_MUPO_CPU", "0") == "1":
        import verl_mupo.cpu.activate  # noqa: F401  CPU platform + transformers rollout, smoke runs only


try:
    register()
except Exception:
    logger.warning("verl_mupo failed to register with verl; MUPO is NOT available:\n%s", traceback.format_exc())
    raise
