"""What the trainer hook hands the ``mupo`` estimator for one ``_compute_advantage`` call.

verl 0.9.1 passes an advantage estimator only rewards, mask, uid and the algorithm config, so the
group-level results travel through a ``contextvars.ContextVar`` set around verl's own
``_compute_advantage``. The estimator checks that the rows it gets are the rows the hook saw, and
writes its own metrics into :attr:`MupoSideInfo.metrics` for the hook to log.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

import numpy as np

from verl_mupo.config import MupoConfig


@dataclass(frozen=True)
class MupoSideInfo:
    """Per-row results of the group stage, in the row order of the batch the estimator receives.

    Attributes:
        uids: ``(B,)`` object array, verl's ``uid`` of each row (checked against ``index``).
        labels: ``(B,)`` int64 group of each row inside its prompt (-1: padding).
        score_delta: ``(B,)`` float32 change to each row's outcome score (lambda-weighted diversity).
        config: the MUPO settings of the run.
        no_update: ``(B,)`` bool, rows of prompts the online filter removes (zero advantage).
        all_correct: ``(B,)`` bool, valid rows of prompts whose every valid response is correct.
        metrics: filled by the estimator (``mupo/all_correct_adv_abs_mean``), logged by the hook.
    """

    uids: np.ndarray
    labels: np.ndarray
    score_delta: np.ndarray
    config: MupoConfig
    no_update: np.ndarray | None = None
    all_correct: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)


_SIDE_INFO: contextvars.ContextVar[MupoSideInfo | None] = contextvars.ContextVar("mupo_side_info", default=None)


def current_side_info() -> MupoSideInfo | None:
    return _SIDE_INFO.get()


@contextlib.contextmanager
def side_info_scope(info: MupoSideInfo):
    token = _SIDE_INFO.set(info)
    try:
        yield info
    finally:
        _SIDE_INFO.reset(token)
