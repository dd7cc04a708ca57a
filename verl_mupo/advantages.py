"""Group-relative advantages inside each (prompt, group), scaled by load-balancing weights
(MUPO step 2). Pure torch; no verl import.

For response ``i`` of prompt ``p`` in group ``k`` (``n_pk`` members, ``K_eff`` groups, ``n_p``
clustered responses)::

    A_i = (s_i - mean_{G_pk}(s)) / (std_{G_pk}(s) + eps) * w_pk           (norm_adv_by_std=True)
    A_i = (s_i - mean_{G_pk}(s)) * w_pk                                   (norm_adv_by_std=False)
    w_pk = ((n_p / K_eff) / n_pk) ** beta                                 (authors' formula)

``std`` is the unbiased standard deviation, as in verl's ``grpo``. The mean and std of every group
are computed with the very same torch calls verl's ``compute_grpo_outcome_advantage`` makes
(``torch.mean`` / ``torch.std`` on the group's 1-D score vector), and the per-row arithmetic is the
same, so with one group per prompt the result equals verl's ``grpo`` bit for bit. A group of one
response gets mean 0 and std 1, again as verl does. Rows labelled ``-1`` (not clustered, e.g. verl's
padding rows) form one group per prompt with weight 1.
"""

from __future__ import annotations

import numpy as np
import torch

from verl_mupo._arrays import as_numpy, is_tensor, prompt_ids

__all__ = ["compute_mupo_advantages", "load_balance_weights"]


def _group_ids(index, labels, num_rows: int):
    """Dense id of each (prompt, label) pair. Returns ``(gid (B,), prompt (B,), label (B,))``."""
    prompt, _ = prompt_ids(index, num_rows)
    lab = as_numpy(labels).astype(np.int64).reshape(-1)
    if lab.shape[0] != num_rows:
        raise ValueError(f"labels has {lab.shape[0]} entries but there are {num_rows} rows")
    key = prompt * (int(lab.max(initial=0)) + 2) + (lab + 1)
    _, gid = np.unique(key, return_inverse=True)
    return gid.reshape(-1), prompt, lab


def load_balance_weights(index, labels, beta: float = 1.0) -> np.ndarray:
    """``w_pk = ((n_p / K_eff_p) / n_pk) ** beta`` for every row (float64, shape ``(B,)``).

    ``n_p`` and ``K_eff_p`` count only clustered rows (label >= 0); rows with label -1 get 1."""
    lab = as_numpy(labels).astype(np.int64).reshape(-1)
    gid, prompt, lab = _group_ids(index, lab, len(lab))
    clustered = lab >= 0
    group_size = np.bincount(gid, minlength=gid.max(initial=-1) + 1)[gid].astype(np.float64)
    n_p = np.bincount(prompt, weights=clustered.astype(np.float64))
    first_of_group = np.zeros(len(gid), dtype=bool)
    first_of_group[np.unique(gid, return_index=True)[1]] = True
    k_p = np.bincount(prompt, weights=(first_of_group & clustered).astype(np.float64))
    w = np.ones(len(lab), dtype=np.float64)
    c = clustered
    w[c] = ((n_p[prompt[c]] / k_p[prompt[c]]) / group_size[c]) ** beta
    return w


def compute_mupo_advantages(
    scores,
    index,
    labels,
    beta: float = 1.0,
    epsilon: float = 1e-6,
    norm_adv_by_std: bool = True,
    return_weights: bool = False,
):
    """Per-row MUPO advantages.

    Args:
        scores: ``(B,)`` outcome score of each response (torch tensor or numpy array).
        index: ``(B,)`` prompt id of each row (verl's ``uid``).
        labels: ``(B,)`` group of each row inside its prompt (from :func:`constrained_partition`);
            ``-1`` for rows left out of clustering.
        beta: load-balancing sensitivity; 0 disables the weights (paper: 1).
        epsilon: added to the std, as verl's ``grpo`` does (1e-6).
        norm_adv_by_std: divide by the group std (GRPO) or not (Dr.GRPO), verl's
            ``algorithm.norm_adv_by_std_in_grpo``.
        return_weights: also return the ``(B,)`` load-balancing weights.

    Returns:
        ``(B,)`` advantages of the same kind and dtype as ``scores`` (and the weights, if asked).
    """
    was_tensor = is_tensor(scores)
    s = scores if was_tensor else torch.from_numpy(np.ascontiguousarray(as_numpy(scores)))
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D (one per response), got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all():
        bad = int((~torch.isfinite(s)).sum())
        raise ValueError(
            f"{bad} reward(s) are NaN or inf; MUPO refuses to normalise them. Check the reward "
            "function (reward.custom_reward_function.*) or the KL penalty (algorithm.use_kl_in_reward)."
        )
    n = s.shape[0]
    gid, _, _ = _group_ids(index, labels, n)
    weights = load_balance_weights(index, labels, beta)
    with torch.no_grad():
        s_cpu = s.detach().to("cpu")
        order = np.argsort(gid, kind="stable")
        counts = np.bincount(gid)
        sorted_scores = s_cpu[torch.from_numpy(order)]
        means = torch.empty(len(counts), dtype=s.dtype)
        stds = torch.empty(len(counts), dtype=s.dtype)
        for g, chunk in enumerate(torch.split(sorted_scores, counts.tolist())):
            if chunk.shape[0] == 1:  # verl: a lone response gets mean 0, std 1
                means[g], stds[g] = 0.0, 1.0
            else:
                chunk = chunk.contiguous()
                means[g] = torch.mean(chunk)
                stds[g] = torch.std(chunk)
        gid_t = torch.from_numpy(gid)
        if norm_adv_by_std:
            adv = (s_cpu - means[gid_t]) / (stds[gid_t] + epsilon)
        else:
            adv = s_cpu - means[gid_t]
        w = torch.from_numpy(weights).to(s.dtype)
        adv = adv * w
    if was_tensor:
        adv = adv.to(s.device)
    else:
        adv = adv.numpy()
    if return_weights:
        return adv, (w.to(s.device) if was_tensor else weights)
    return adv
