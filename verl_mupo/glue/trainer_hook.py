"""The narrow hook around verl's v1 ``PPOTrainer._compute_advantage`` (and ``fit``).

Active only when MUPO is on for the run (``algorithm.adv_estimator=mupo``, or
``algorithm.mupo.monitor_only`` with another estimator; :func:`verl_mupo.config.mupo_mode`). Before
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
import time

from verl_mupo.batch import batch_rows, group_stage_of_rows
from verl_mupo.config import MupoConfig
from verl_mupo.glue.patching import is_patched, wrap_once
from verl_mupo.glue.side_info import MupoSideInfo, side_info_scope
from verl_mupo.glue.storage import padding_rows, read_fields, reward_extra_info
from verl_mupo.glue.trainer_state import embedder_for, mode_of, settings_of

logger = logging.getLogger(__name__)

__all__ = ["patch_trainer", "mupo_group_info", "embedder_for", "settings_of", "LAST_INFO_ATTR"]

#: the trainer attribute that holds the last step's :class:`MupoSideInfo` (read by the debugging dump)
LAST_INFO_ATTR = "_mupo_last_group_info"


def mupo_group_info(trainer, batch, cfg: MupoConfig, metrics: dict) -> MupoSideInfo:
    """Embed, cluster and score one training batch (a ``KVBatchMeta``); add ``mupo/*`` metrics."""
    data = read_fields(batch, ["uid", "responses", "response_mask", "extra_fields"])
    rows = batch_rows(trainer.tokenizer, data["responses"], data["response_mask"], data["uid"],
                      reward_infos=[reward_extra_info(r) for r in data["extra_fields"]], valid=~padding_rows(batch))
    embedder = embedder_for(trainer, cfg)
    lam = cfg.lambda_for_step(trainer.global_steps, trainer.total_training_steps)
    result = group_stage_of_rows(rows, cfg, embedder, lam)
    metrics.update(result.metrics)
    metrics["mupo/global_step"] = float(trainer.global_steps)
    if cfg.embedder.placement == "service":
        metrics["mupo/embedder_actors"] = float(embedder.num_actors)
        metrics["mupo/embedder_restarts"] = float(embedder.restarts)
    return MupoSideInfo(uids=rows.uids, labels=result.labels, score_delta=result.score_delta, config=cfg,
                        no_update=result.filtered, all_correct=result.all_correct)


def _wrap_compute_advantage(original):
    @functools.wraps(original)
    def _compute_advantage(self, batch, metrics):
        cfg = settings_of(self)
        if cfg is None:
            return original(self, batch, metrics)
        info = mupo_group_info(self, batch, cfg, metrics)
        setattr(self, LAST_INFO_ATTR, info)
        if mode_of(self) == "monitor":
            return original(self, batch, metrics)
        with side_info_scope(info):
            out = original(self, batch, metrics)
        metrics.update(info.metrics)  # filled by the mupo estimator
        return out

    return _compute_advantage


def _wrap_fit(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        cfg = settings_of(self)
        if cfg is not None:
            t0 = time.perf_counter()
            embedder_for(self, cfg)  # raises EmbedderLoadError / EmbedderPlacementError naming the setting
            logger.warning("verl_mupo: embedder %s (%s) ready in %.1f s", cfg.embedder.model,
                           cfg.embedder.placement, time.perf_counter() - t0)
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
            "(self, batch, metrics). verl_mupo supports verl>=0.9.1,<0.10."
        )
    wrap_once(cls, "_compute_advantage", lambda original: wrap_dump(_wrap_compute_advantage(original)))
    wrap_once(cls, "fit", _wrap_fit)
