"""The narrow hook around verl's v1 ``PPOTrainer._compute_advantage`` (and ``fit``).

Active only when MUPO is on for the run (``algorithm.adv_estimator=mupo``, or
``algorithm.mupo.monitor_only`` with another estimator; :func:`verl_mupo.glue.run_config.mupo_mode`). Before
verl's own method runs it:

1. reads each row's response tokens, ``uid`` and ``reward_extra_info`` (``acc``) from verl's batch
   storage (:mod:`verl_mupo.glue.storage`), and the padding tags from the batch;
2. turns them into texts, accuracy and valid rows (:func:`verl_mupo.batch.batch_rows`), embeds and
   runs the group stage (:func:`verl_mupo.batch.group_stage_of_rows`) with lambda from
   ``global_steps`` / ``total_training_steps`` (:meth:`verl_mupo.MupoConfig.lambda_for_step`);
3. hands the labels and the reward change to the ``mupo`` estimator through a context variable and
   calls verl's original ``_compute_advantage`` unchanged;
4. adds the ``mupo/*`` metrics (the group stage's and the estimator's) to the step's metrics.

It also wraps ``fit`` to load the embedder before the first rollout, so a missing model stops the
run at once. The settings are parsed once per run (:func:`verl_mupo.glue.trainer_state.settings_of`).
Installed by :mod:`verl_mupo.verl_plugin` when verl's v1 trainer module is imported; the debugging
dump (:mod:`verl_mupo.glue.advantage_dump`) wraps this hook from outside.

Public API: ``patch_trainer(module)``; ``mupo_group_info(trainer, batch, cfg, metrics) ->
MupoSideInfo``; ``embedder_for`` and ``settings_of`` are re-exported from
:mod:`verl_mupo.glue.trainer_state`.
"""

from __future__ import annotations

import functools
import inspect
import logging

from verl_mupo.batch import batch_rows
from verl_mupo.config import MupoConfig
from verl_mupo.glue.group_step import LAST_INFO_ATTR, estimate, prepare_run, side_info_for
from verl_mupo.glue.patching import is_patched, wrap_once
from verl_mupo.glue.side_info import MupoSideInfo
from verl_mupo.glue.storage import padding_rows, read_fields, reward_extra_info
from verl_mupo.glue.trainer_state import embedder_for, settings_of
from verl_mupo.glue.versions import SUPPORTED

logger = logging.getLogger(__name__)

__all__ = ["patch_trainer", "mupo_group_info", "embedder_for", "settings_of", "LAST_INFO_ATTR"]


def mupo_group_info(trainer, batch, cfg: MupoConfig, metrics: dict) -> MupoSideInfo:
    """Embed, cluster and score one training batch (a ``KVBatchMeta``); add ``mupo/*`` metrics."""
    data = read_fields(batch, ["uid", "responses", "response_mask", "extra_fields"])
    rows = batch_rows(trainer.tokenizer, data["responses"], data["response_mask"], data["uid"],
                      reward_infos=[reward_extra_info(r) for r in data["extra_fields"]], valid=~padding_rows(batch))
    return side_info_for(trainer, rows, cfg, metrics)


def _wrap_compute_advantage(original):
    @functools.wraps(original)
    def _compute_advantage(self, batch, metrics):
        cfg = settings_of(self)
        if cfg is None:
            return original(self, batch, metrics)
        info = mupo_group_info(self, batch, cfg, metrics)
        with estimate(self, info, metrics):
            return original(self, batch, metrics)

    return _compute_advantage


def _wrap_fit(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        prepare_run(self)
        return original(self, *args, **kwargs)

    return fit


def patch_trainer(module) -> None:
    """Wrap ``PPOTrainer._compute_advantage`` (with the debugging dump outside it) and
    ``PPOTrainer.fit`` in ``module`` (idempotent)."""
    from verl_mupo.glue.advantage_dump import wrap_dump

    cls = module.PPOTrainer
    current = cls.__dict__.get("_compute_advantage")
    if current is None or is_patched(current):
        return
    params = list(inspect.signature(current).parameters)
    if params != ["self", "batch", "metrics"]:
        raise RuntimeError(
            f"verl_mupo cannot hook this verl: PPOTrainer._compute_advantage{tuple(params)} is not "
            f"(self, batch, metrics). {SUPPORTED}"
        )
    wrap_once(cls, "_compute_advantage", lambda original: wrap_dump(_wrap_compute_advantage(original)))
    wrap_once(cls, "fit", _wrap_fit)
