"""The part of MUPO's advantage step that both of verl's trainers share.

Each trainer's adapter reads the rows its own way (:mod:`verl_mupo.glue.trainer_hook`: the v1
trainer's batch storage; :mod:`verl_mupo.glue.legacy_hook`: the legacy trainer's ``DataProto``),
then both go through :func:`side_info_for`, which embeds, runs the group stage and returns what the
``mupo`` estimator needs, and :func:`estimate`, which runs verl's own advantage code with it.
"""

from __future__ import annotations

import contextlib
import logging
import time

from verl_mupo.batch import BatchRows, group_stage_of_rows
from verl_mupo import metric_names as M
from verl_mupo.config import MupoConfig
from verl_mupo.glue.side_info import MupoSideInfo, side_info_scope
from verl_mupo.glue.trainer_state import embedder_for, mode_of, settings_of

logger = logging.getLogger(__name__)

__all__ = ["LAST_INFO_ATTR", "side_info_for", "estimate", "prepare_run"]

#: the trainer attribute that holds the last step's :class:`MupoSideInfo` (read by the debugging dump)
LAST_INFO_ATTR = "_mupo_last_group_info"


def prepare_run(trainer) -> None:
    """At the start of ``fit``: when MUPO is on for the run, load the embedder (before the first
    rollout, so a missing model stops the run at once).

    Raises:
        EmbedderLoadError / EmbedderPlacementError: naming the setting to change.
    """
    cfg = settings_of(trainer)
    if cfg is None:
        return
    t0 = time.perf_counter()
    embedder_for(trainer, cfg)
    logger.warning("verl_mupo: embedder %s (%s) ready in %.1f s for %s", cfg.embedder.model, cfg.embedder.placement,
                   time.perf_counter() - t0, type(trainer).__name__)


def side_info_for(trainer, rows: BatchRows, cfg: MupoConfig, metrics: dict) -> MupoSideInfo:
    """Embed ``rows`` with the run's embedder, run the group stage with lambda for the trainer's
    ``global_steps`` / ``total_training_steps`` (:meth:`MupoConfig.lambda_for_step`), add the
    ``mupo/*`` metrics to ``metrics`` and keep the result on the trainer (:data:`LAST_INFO_ATTR`)."""
    embedder = embedder_for(trainer, cfg)
    lam = cfg.lambda_for_step(trainer.global_steps, trainer.total_training_steps)
    result = group_stage_of_rows(rows, cfg, embedder, lam)
    metrics.update(result.metrics)
    metrics[M.GLOBAL_STEP] = float(trainer.global_steps)
    if cfg.embedder.placement == "service":
        metrics[M.EMBEDDER_ACTORS] = float(embedder.num_actors)
        metrics[M.EMBEDDER_RESTARTS] = float(embedder.restarts)
    info = MupoSideInfo(uids=rows.uids, labels=result.labels, score_delta=result.score_delta, config=cfg,
                        no_update=result.filtered, all_correct=result.all_correct)
    setattr(trainer, LAST_INFO_ATTR, info)
    return info


@contextlib.contextmanager
def estimate(trainer, info: MupoSideInfo, metrics: dict):
    """Around verl's own advantage code: hand ``info`` to the ``mupo`` estimator (not in monitor
    mode, where verl's estimator runs untouched), then add the estimator's metrics."""
    if mode_of(trainer) == "monitor":
        yield
        return
    with side_info_scope(info):
        yield
    metrics.update(info.metrics)  # filled by the mupo estimator
