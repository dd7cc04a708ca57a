"""Group-relative advantages inside each (prompt, group), scaled by load-balancing weights
(MUPO step 2). Pure torch; no verl import.

For response ``i`` of prompt ``p`` in group ``k`` (``n_pk`` members, ``K_eff`` groups, ``n_p``
clustered responses)::

    A_i = (s_i - mean_{G_pk}(s)) / (std_{G_pk}(s) + eps) * w_pk           (norm_adv_by_std=True)
    A_i = (s_i - mean_{G_pk}(s)) * w_pk                                   (norm_adv_by_std=False)
    w_pk = ((n_p / K_eff) / n_pk) ** beta                                 (authors' formula)

``std`` is the unbiased standard deviation, as in verl's ``grpo``. The mean and std of every group
are computed with the very same torch calls verl's ``compute_grpo_outcome_advantage`` makes
(``torch.mean`` / ``torch.std`` on the group's 1-D score vector, rows in batch order), and the
per-row arithmetic is the same, so with one group per prompt the result equals verl's ``grpo`` bit
for bit, with one exception:

- a group whose scores are all equal (a group of one response included) gets advantage exactly 0.
  verl's float32 mean of equal values that are not exactly representable (nine rewards of 0.6) is
  off by an ulp, and dividing that by ``std + eps = eps`` gives advantages up to ~0.11 instead of 0;
  verl gives a lone response its raw score (mean 0, std 1). MUPO's lambda-dependent rewards make such
  groups routine, so here they carry no signal at all.

Rows labelled ``-1`` (not clustered, e.g. verl's padding rows) form one group per prompt with
weight 1.
"""

from __future__ import annotations

import numpy as np
import torch

from verl_mupo._arrays import (as_numpy, check_bool, check_finite_result, check_positive, floats_like, group_labels, is_tensor,
                               prompt_ids)
from verl_mupo.defaults import DEFAULTS

__all__ = ["compute_mupo_advantages", "load_balance_weights"]


def _group_ids(index, labels, num_rows: int):
    """Dense id of each (prompt, label) pair. Returns ``(gid (B,), prompt (B,), label (B,))``."""
    prompt, _ = prompt_ids(index, num_rows)
    lab = group_labels(labels, num_rows)
    key = prompt * (int(lab.max(initial=0)) + 2) + (lab + 1)
    _, gid = np.unique(key, return_inverse=True)
    return gid.reshape(-1), prompt, lab


def load_balance_weights(index, labels, beta: float = DEFAULTS["beta"]) -> np.ndarray:
    """``w_pk = ((n_p / K_eff_p) / n_pk) ** beta`` for every row (float64, shape ``(B,)``).

    ``n_p`` and ``K_eff_p`` count only clustered rows (label >= 0); rows with label -1 get 1.
    ``beta`` must be finite and >= 0 (0: every weight is 1)."""
    beta = check_positive("beta (algorithm.mupo.beta)", beta, allow_zero=True)
    lab = as_numpy(labels).reshape(-1)
    gid, prompt, lab = _group_ids(index, lab, len(lab))
    clustered = lab >= 0
    group_size = np.bincount(gid, minlength=gid.max(initial=-1) + 1)[gid].astype(np.float64)
    n_p = np.bincount(prompt, weights=clustered.astype(np.float64))
    first_of_group = np.zeros(len(gid), dtype=bool)
    first_of_group[np.unique(gid, return_index=True)[1]] = True
    k_p = np.bincount(prompt, weights=(first_of_group & clustered).astype(np.float64))
    w = np.ones(len(lab), dtype=np.float64)
    c = clustered
    with np.errstate(over="ignore", under="ignore"):
        w[c] = ((n_p[prompt[c]] / k_p[prompt[c]]) / group_size[c]) ** beta
    if not np.isfinite(w).all() or (c.any() and w[c].min() == 0):
        ratio = (n_p[prompt[c]] / k_p[prompt[c]]) / group_size[c]
        raise ValueError(
            f"load-balancing weights (mean group size / group size) ** beta overflow or vanish at beta={beta} "
            f"(algorithm.mupo.beta): size ratios from {ratio.min():.3g} to {ratio.max():.3g} give weights "
            f"{ratio.min():.3g}**beta to {ratio.max():.3g}**beta; lower algorithm.mupo.beta (paper: 1)"
        )
    return w


def compute_mupo_advantages(
    scores,
    index,
    labels,
    beta: float = DEFAULTS["beta"],
    epsilon: float = 1e-6,
    norm_adv_by_std: bool = True,
    return_weights: bool = False,
):
    """Per-row MUPO advantages.

    Args:
        scores: ``(B,)`` outcome score of each response (torch tensor or numpy array; integer,
            bool, float16 and bfloat16 scores are computed in float32).
        index: ``(B,)`` prompt id of each row (verl's ``uid``); one kind of id for all rows.
        labels: ``(B,)`` integer group of each row inside its prompt (from
            :func:`constrained_partition`); ``-1`` for rows left out of clustering.
        beta: load-balancing sensitivity, finite and >= 0; 0 switches the weights off (paper: 1).
        epsilon: added to the std, as verl's ``grpo`` does; finite and > 0 (1e-6).
        norm_adv_by_std: divide by the group std (GRPO) or not (Dr.GRPO), verl's
            ``algorithm.norm_adv_by_std_in_grpo``.
        return_weights: also return the ``(B,)`` load-balancing weights.

    Returns:
        ``(B,)`` advantages of the same kind as ``scores`` (tensor on its device, or numpy array),
        in ``scores``' floating dtype (float32 for integer and bool scores); exactly 0 in groups
        whose scores are all equal. With ``return_weights``, also the weights (a tensor in the
        compute dtype, or a float64 numpy array).

    Raises:
        ValueError: NaN/inf scores, arrays of different lengths, mixed kinds of prompt ids,
            non-integer labels or labels below -1, ``beta`` or ``epsilon`` out of range,
            ``norm_adv_by_std`` not a bool (the string ``"false"`` would count as true), weights that
            overflow at this ``beta``, or advantages that come out NaN/inf (the message names
            ``algorithm.mupo.beta``; :class:`verl_mupo.config.MupoConfig` keeps beta in [0, 4]).
    """
    beta = check_positive("beta (algorithm.mupo.beta)", beta, allow_zero=True)
    epsilon = check_positive("epsilon", epsilon, allow_zero=False)
    norm_adv_by_std = check_bool("norm_adv_by_std (algorithm.norm_adv_by_std_in_grpo)", norm_adv_by_std)
    was_tensor = is_tensor(scores)
    if was_tensor:
        s = scores.detach()
    else:
        arr = np.asarray(scores)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"scores must be numbers, got dtype {arr.dtype}")
        s = torch.from_numpy(np.ascontiguousarray(arr))
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D (one per response), got shape {tuple(s.shape)}")
    if s.dtype != torch.float64 and s.dtype != torch.float32:
        s = s.to(torch.float32)  # integer, bool, float16, bfloat16
    n = s.shape[0]
    if not torch.isfinite(s).all():
        bad = int((~torch.isfinite(s)).sum())
        raise ValueError(
            f"{bad} reward(s) are NaN or inf; MUPO refuses to normalise them. Check the reward "
            "function (reward.custom_reward_function.*) or the KL penalty (algorithm.use_kl_in_reward)."
        )
    gid, _, _ = _group_ids(index, labels, n)
    weights = load_balance_weights(index, labels, beta) if n else np.zeros(0)
    with torch.no_grad():
        s_cpu = s.to("cpu")
        adv = torch.zeros(n, dtype=s.dtype)
        if n:
            order = np.argsort(gid, kind="stable")
            counts = np.bincount(gid)
            sorted_np = s_cpu.numpy()[order]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            constant = np.minimum.reduceat(sorted_np, starts) == np.maximum.reduceat(sorted_np, starts)
            means = torch.zeros(len(counts), dtype=s.dtype)
            stds = torch.ones(len(counts), dtype=s.dtype)
            sorted_scores = torch.from_numpy(sorted_np)
            for g in np.nonzero(~constant)[0]:  # (groups of one are constant)
                chunk = sorted_scores[starts[g] : starts[g] + counts[g]]
                means[g] = torch.mean(chunk)
                stds[g] = torch.std(chunk)
            gid_t = torch.from_numpy(gid)
            if norm_adv_by_std:
                adv = (s_cpu - means[gid_t]) / (stds[gid_t] + epsilon)
            else:
                adv = s_cpu - means[gid_t]
            adv = adv * torch.from_numpy(weights).to(s.dtype)
            adv[torch.from_numpy(constant[gid])] = 0.0
            check_finite_result(adv.numpy(), "advantages", f"beta={beta} (algorithm.mupo.beta: load-balancing "
                                f"weights up to {weights.max():.3g})")
    out = floats_like(adv.numpy(), scores)
    if return_weights:
        return out, (torch.from_numpy(weights).to(device=scores.device, dtype=s.dtype) if was_tensor else weights)
    return out
