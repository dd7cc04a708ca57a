"""MUPO on verl 0.9.1's legacy trainer (``trainer.use_v1=false``: ``RayPPOTrainer``).

The legacy trainer computes advantages with the module function
``verl.trainer.ppo.ray_trainer.compute_advantage(data: DataProto, adv_estimator, ...)``, called from
``RayPPOTrainer.fit``, and the ``DataProto`` it passes already holds everything MUPO needs:
``batch["responses"]``, ``batch["response_mask"]``, ``non_tensor_batch["uid"]`` and the reward
manager's extras (``acc``) merged into ``non_tensor_batch``. This adapter reads them from that
``DataProto`` (never from the v1 trainer's batch storage) and shares the rest with the v1 hook
(:mod:`verl_mupo.glue.group_step`):

- ``RayPPOTrainer.fit`` is wrapped to load the embedder before the first rollout and to mark the
  trainer as the one whose steps are computed (a context variable: ``compute_advantage`` does not
  receive the trainer);
- ``compute_advantage`` is wrapped: inside a marked ``fit`` with MUPO on for the run, it runs the
  group stage on the ``DataProto`` (:func:`verl_mupo.batch.batch_rows` via
  :func:`legacy_rows`), calls verl's own function with the side information, and stores the
  ``mupo/*`` metrics in ``data.meta_info`` (:data:`METRICS_KEY`); everywhere else (the v1 trainer,
  which imports the same function by name, or plain runs) it calls verl's function unchanged;
- ``compute_data_metrics`` as ``ray_trainer`` imported it is wrapped to add those metrics to the
  step's metrics, which ``fit`` logs through verl's tracking.

Validation metrics (``val-mupo/*``) come from :mod:`verl_mupo.glue.validation_metrics`, which
patches the legacy trainer's validation methods too. Installed by :mod:`verl_mupo.verl_plugin` when
``verl.trainer.ppo.ray_trainer`` is imported, for the verls of the plugin's version guard (:data:`verl_mupo.glue.versions.KNOWN_VERL`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging

import numpy as np

from verl_mupo.batch import BatchRows, batch_rows
from verl_mupo.glue.advantage_dump import dump_dataproto, dump_directory
from verl_mupo.glue.group_step import estimate, prepare_run, side_info_for
from verl_mupo.glue.patching import is_patched, wrap_once
from verl_mupo.glue.trainer_state import settings_of
from verl_mupo.glue.versions import SUPPORTED

logger = logging.getLogger(__name__)

__all__ = ["METRICS_KEY", "legacy_rows", "patch_ray_trainer"]

#: ``DataProto.meta_info`` key under which the advantage step leaves its ``mupo/*`` metrics
METRICS_KEY = "mupo_metrics"
#: ``compute_advantage``'s parameters in verl 0.9.1 (the adapter reads ``data`` and ``adv_estimator``)
_SIGNATURE = ["data", "adv_estimator", "gamma", "lam", "num_repeat", "norm_adv_by_std_in_grpo", "config"]

_TRAINER: contextvars.ContextVar = contextvars.ContextVar("mupo_legacy_trainer", default=None)


@contextlib.contextmanager
def _training(trainer):
    token = _TRAINER.set(trainer)
    try:
        yield
    finally:
        _TRAINER.reset(token)


def legacy_rows(tokenizer, data) -> BatchRows:
    """:class:`BatchRows` of a legacy ``DataProto`` at the advantage step (no padding rows: the
    legacy trainer never pads a training batch).

    Raises:
        KeyError: ``acc`` is neither in ``non_tensor_batch`` nor in its ``reward_extra_info`` dicts
            (:data:`verl_mupo.batch.MISSING_ACC`).
    """
    ntb = data.non_tensor_batch
    acc = ntb["acc"] if "acc" in ntb else None
    infos = list(ntb["reward_extra_info"]) if acc is None and "reward_extra_info" in ntb else None
    return batch_rows(tokenizer, data.batch["responses"], data.batch["response_mask"], np.asarray(ntb["uid"]),
                      reward_infos=infos, acc=acc)


def _wrap_compute_advantage(original):
    @functools.wraps(original)
    def compute_advantage(data, *args, **kwargs):
        trainer = _TRAINER.get()
        cfg = settings_of(trainer) if trainer is not None else None
        if cfg is None:
            out = original(data, *args, **kwargs)
        else:
            metrics: dict = {}
            info = side_info_for(trainer, legacy_rows(trainer.tokenizer, data), cfg, metrics)
            with estimate(trainer, info, metrics):
                out = original(data, *args, **kwargs)
            out.meta_info[METRICS_KEY] = metrics
        if trainer is not None and dump_directory():
            dump_dataproto(trainer, out, dump_directory())
        return out

    return compute_advantage


def _wrap_compute_data_metrics(original):
    @functools.wraps(original)
    def compute_data_metrics(batch, *args, **kwargs):
        metrics = original(batch, *args, **kwargs)
        extra = batch.meta_info.get(METRICS_KEY) if hasattr(batch, "meta_info") else None
        if extra:
            metrics.update(extra)
        return metrics

    return compute_data_metrics


def _wrap_fit(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        prepare_run(self)
        with _training(self):
            return original(self, *args, **kwargs)

    return fit


def patch_ray_trainer(module) -> None:
    """Wrap ``compute_advantage``, ``compute_data_metrics`` and ``RayPPOTrainer.fit`` in ``module``
    (verl's ``ray_trainer``; idempotent).

    Raises:
        RuntimeError: ``compute_advantage``'s parameters are not verl 0.9.1's.
    """
    current = module.compute_advantage
    if not is_patched(current):
        params = list(inspect.signature(current).parameters)
        if params != _SIGNATURE:
            raise RuntimeError(f"verl_mupo cannot hook this verl's legacy trainer: compute_advantage{tuple(params)} "
                               f"is not {tuple(_SIGNATURE)}. {SUPPORTED}")
    # verl's v1 utilities import compute_advantage by name; if they do after this, they get the
    # wrapper, which passes through there (no legacy trainer is marked)
    wrap_once(module, "compute_advantage", _wrap_compute_advantage)
    wrap_once(module, "compute_data_metrics", _wrap_compute_data_metrics)
    wrap_once(module.RayPPOTrainer, "fit", _wrap_fit)
