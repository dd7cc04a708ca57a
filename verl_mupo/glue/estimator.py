"""The ``mupo`` advantage estimator in verl's registry (``algorithm.adv_estimator=mupo``)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from verl.trainer.ppo.core_algos import register_adv_est

from verl_mupo import metric_names as M
from verl_mupo.advantages import compute_mupo_advantages
from verl_mupo.config import MupoConfig
from verl_mupo.glue.side_info import MupoSideInfo, current_side_info

GRPO_EPSILON = 1e-6  # verl's compute_grpo_outcome_advantage default

MISSING_SIDE_INFO = (
    "algorithm.adv_estimator=mupo was called without MUPO's group information (cluster labels and "
    "diversity term). That information is computed by verl_mupo's hooks around verl's v1 trainer "
    "(PPOTrainer._compute_advantage) and legacy trainer (ray_trainer.compute_advantage), or written into "
    "the DataProto by verl_mupo.batch.compute_mupo_batch_rewards (non_tensor_batch['mupo_label'], "
    "['mupo_score_delta']) for a verl that passes non_tensor_batch to estimators. It is missing when an "
    "experimental trainer that bypasses both runs (fully_async_policy, separation), or verl_mupo was not "
    "imported in this process (run `python -m verl_mupo.doctor`). MUPO does not fall back to GRPO; use "
    "algorithm.adv_estimator=grpo for GRPO."
)
#: ``non_tensor_batch`` columns that carry the group stage's results (written by
#: :func:`verl_mupo.batch.compute_mupo_batch_rewards` with ``write=True``)
LABEL_COLUMN, DELTA_COLUMN = "mupo_label", "mupo_score_delta"


def side_info_from_columns(non_tensor_batch, index, config) -> MupoSideInfo | None:
    """The group information carried by a ``DataProto``'s ``non_tensor_batch`` (a verl that passes
    it to estimators, as verl PR #7473 proposes), or ``None`` when it has no :data:`LABEL_COLUMN`.

    Raises:
        RuntimeError: :data:`DELTA_COLUMN` missing or the columns' lengths differ from ``index``.
    """
    if non_tensor_batch is None or LABEL_COLUMN not in non_tensor_batch:
        return None
    if DELTA_COLUMN not in non_tensor_batch:
        raise RuntimeError(f"non_tensor_batch has {LABEL_COLUMN!r} but no {DELTA_COLUMN!r}: write both with "
                           "verl_mupo.batch.compute_mupo_batch_rewards(data, ..., write=True)")
    labels = np.asarray(non_tensor_batch[LABEL_COLUMN], dtype=np.int64)
    delta = np.asarray(non_tensor_batch[DELTA_COLUMN], dtype=np.float32)
    if index is None or not (len(labels) == len(delta) == len(index)):
        raise RuntimeError(f"non_tensor_batch[{LABEL_COLUMN!r}] / [{DELTA_COLUMN!r}] have {len(labels)} / {len(delta)} "
                           f"rows, the batch {None if index is None else len(index)}")
    mupo = config.get("mupo", None) if config is not None else None
    return MupoSideInfo(uids=np.asarray(index, dtype=object), labels=labels, score_delta=delta,
                        config=MupoConfig.from_mapping(mupo))


@register_adv_est("mupo")
def compute_mupo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Optional[np.ndarray] = None,
    config=None,
    non_tensor_batch: Optional[dict] = None,
    batch=None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MUPO advantages: GRPO inside each (prompt, group), times the load-balancing weight, on the
    outcome score plus the lambda-weighted, accuracy-gated diversity term. Rows of prompts the
    online filter removes (``algorithm.mupo.online_filtering``) get zero advantage. Writes
    ``mupo/all_correct_adv_abs_mean`` (mean ``|A|`` over the rows of all-correct prompts, 0 when
    there are none) into the side information's metrics.

    Args:
        token_level_rewards: ``(bs, response_length)``.
        response_mask: ``(bs, response_length)``.
        index: ``(bs,)`` verl's ``uid`` of each row.
        config: verl's ``algorithm`` config; ``norm_adv_by_std_in_grpo`` is honoured.
        non_tensor_batch: the ``DataProto``'s per-row arrays, when verl passes them (verl 0.9.1 does
            not; PR #7473 would). Used when no trainer hook provided the group information: its
            ``mupo_label`` / ``mupo_score_delta`` columns (:func:`side_info_from_columns`).
        batch: the ``DataProto``'s tensors, when verl passes them; not needed.

    Returns:
        advantages, returns: both ``(bs, response_length)``.

    Raises:
        RuntimeError: the trainer hook did not provide the group information (see
            ``MISSING_SIDE_INFO``), or the rows differ from the rows the hook clustered.
    """
    side = current_side_info()
    if side is None:
        side = side_info_from_columns(non_tensor_batch, index, config)
    if side is None:
        raise RuntimeError(MISSING_SIDE_INFO)
    if index is None:
        raise RuntimeError("algorithm.adv_estimator=mupo needs verl's uid index; none was passed")
    idx = np.asarray(index, dtype=object)
    if len(idx) != len(side.uids) or not np.array_equal(idx.astype(str), side.uids.astype(str)):
        raise RuntimeError(
            "MUPO's group information does not match the rows passed to the estimator (different uids or "
            "order); this verl version computes advantages on a different batch than verl_mupo expects."
        )
    norm = True if config is None else bool(config.get("norm_adv_by_std_in_grpo", True))
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        if np.any(side.score_delta != 0):
            scores = scores + torch.from_numpy(side.score_delta).to(device=scores.device, dtype=scores.dtype)
        adv = compute_mupo_advantages(scores, idx, side.labels, beta=side.config.beta,
                                      epsilon=GRPO_EPSILON, norm_adv_by_std=norm)
        if side.no_update is not None and side.no_update.any():
            adv = adv.masked_fill(torch.from_numpy(side.no_update).to(adv.device), 0.0)
        if side.all_correct is not None:
            rows = torch.from_numpy(side.all_correct).to(adv.device)
            side.metrics[M.ALL_CORRECT_ADV_ABS_MEAN] = float(adv[rows].abs().mean()) if bool(rows.any()) else 0.0
        adv = adv.unsqueeze(-1) * response_mask
    return adv, adv
