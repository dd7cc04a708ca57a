"""Which verl runs the plugin acts in.

verl imports every installed plugin in every run, so installing verl-mupo must not change a run that
never asked for MUPO. Everything the plugin does besides the mRoPE position-id fix
(:mod:`verl_mupo.glue.mrope_fix`, a verl bug fix for every run) acts only in runs for which
:func:`requested` is true: the start-up checks, the trainer hooks (v1 and legacy), the ``mupo/*`` and
``val-mupo/*`` metrics, the validation files and the embedder. In other runs the wrapped verl
functions call verl's own unchanged.
"""

from __future__ import annotations

__all__ = ["requested"]


def _get(node, key):
    if node is None:
        return None
    getter = getattr(node, "get", None)
    return getter(key, None) if getter is not None else getattr(node, key, None)


def requested(config) -> bool:
    """Whether the verl config ``config`` (the whole run's, or its ``algorithm`` section) asks for
    verl-mupo: ``algorithm.adv_estimator=mupo``, or an ``algorithm.mupo`` block
    (``+mupo@algorithm.mupo=paper`` or ``grpo_monitor``)."""
    algorithm = _get(config, "algorithm")
    if algorithm is None and _get(config, "adv_estimator") is not None:
        algorithm = config  # the algorithm section itself
    if algorithm is None:
        return False
    return str(_get(algorithm, "adv_estimator")) == "mupo" or _get(algorithm, "mupo") is not None
