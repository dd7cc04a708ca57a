"""What one training run keeps on verl's trainer: its MUPO settings (parsed once) and its embedder.

Public API (names and signatures stable; the trainer hook and the validation-metrics hook use them):

- ``settings_of(trainer) -> MupoConfig | None``: the run's settings, parsed from
  ``trainer.config`` on first use with :func:`verl_mupo.glue.run_config.run_settings` (placement resolved),
  then cached on the trainer; ``None`` when MUPO is off for this run (neither
  ``adv_estimator=mupo`` nor ``algorithm.mupo.monitor_only``).
- ``mode_of(trainer) -> str | None``: ``"mupo"``, ``"monitor"`` or ``None``
  (:func:`verl_mupo.glue.run_config.mupo_mode` of ``trainer.config.algorithm``).
- ``embedder_for(trainer, cfg: MupoConfig | None = None) -> Embedder``: the run's embedder, anything
  with ``encode(texts: list[str]) -> (n, d) float32 unit rows``: the process-wide in-process model,
  or the trainer's embedder service (started on first use inside verl's global resource pool).
  ``cfg`` defaults to ``settings_of(trainer)``.
"""

from __future__ import annotations

import logging

from verl_mupo.config import MupoConfig
from verl_mupo.glue.run_config import mupo_mode, run_settings
from verl_mupo.embedding import get_embedder

logger = logging.getLogger(__name__)

__all__ = ["settings_of", "mode_of", "embedder_for"]

_SETTINGS_ATTR = "_mupo_settings"
_SERVICE_ATTR = "_mupo_embedder_service"
_UNSET = object()


def mode_of(trainer) -> str | None:
    """``"mupo"``, ``"monitor"`` or ``None`` for this trainer's config."""
    return mupo_mode(trainer.config.algorithm)


def settings_of(trainer) -> MupoConfig | None:
    """The run's :class:`MupoConfig` (placement resolved), parsed once and kept on the trainer;
    ``None`` when MUPO is off for this run."""
    cached = getattr(trainer, _SETTINGS_ATTR, _UNSET)
    if cached is _UNSET:
        cached = run_settings(trainer.config)
        setattr(trainer, _SETTINGS_ATTR, cached)
    return cached


def embedder_for(trainer, cfg: MupoConfig | None = None):
    """The embedder of this run: the process-wide in-process model, or the trainer's embedder
    service (started on first use inside verl's global resource pool).

    Raises:
        EmbedderLoadError / EmbedderPlacementError: the model cannot load or the service cannot be
            placed; the message names the setting to change.
    """
    cfg = cfg if cfg is not None else settings_of(trainer)
    if cfg is None:
        raise RuntimeError("embedder_for: MUPO is off for this run (algorithm.adv_estimator is not mupo and "
                           "algorithm.mupo.monitor_only is not set)")
    if cfg.embedder.placement == "in_process":
        return get_embedder(cfg.embedder)
    if cfg.embedder.placement != "service":
        raise ValueError(f"embedder_for needs a resolved placement (in_process or service), got "
                         f"{cfg.embedder.placement!r}; pass settings from verl_mupo.glue.run_config.run_settings")
    service = getattr(trainer, _SERVICE_ATTR, None)
    if service is None:
        from verl_mupo.glue.embedder_service import EmbedderService, bundles_of_pool

        pools = trainer.resource_pool_manager.resource_pool_dict
        pool = pools.get("global_pool") or next(iter(pools.values()))
        service = EmbedderService(cfg.embedder, bundles_of_pool(pool))
        setattr(trainer, _SERVICE_ATTR, service)
        logger.warning("verl_mupo: embedder service up, %d actor(s) in %.1f s: %s", service.num_actors,
                       service.start_seconds, service.infos)
    return service
