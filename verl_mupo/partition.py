"""Size-constrained clustering of each prompt's responses (MUPO step 1).

Pure numpy/scipy; no verl import.

The N responses of one prompt are split into ``K`` groups of at least ``G_min`` members each by
k-means on L2-normalised embeddings (for unit vectors ``||x - y||^2 = 2 (1 - cos(x, y))``, so this
is cosine geometry). The assignment step is solved *exactly* under the size constraint: every
group owns ``G_min`` mandatory slots and ``n - K * G_min`` optional ones, and
``scipy.optimize.linear_sum_assignment`` fills the mandatory slots first (their cost is lowered by a
constant larger than any possible saving). When the unconstrained nearest-centroid assignment
already satisfies the constraint it is the constrained optimum too, so the exact solver only runs
for the prompts that need it.

All prompts of a batch that have the same number of responses are clustered together as one
``(P, n, d)`` array; every restart (``n_init``) of every prompt runs in the same batched Lloyd loop.

The result does not depend on the order of rows or prompts: each prompt's rows are first put in a
canonical order (by their projection onto a direction drawn from ``seed``), initialisation
(k-means++) uses random numbers shared by all prompts, and labels are renumbered by that canonical
order. Permuting the input permutes the labels the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from verl_mupo._arrays import as_numpy, check_integer, check_nonzero_rows, group_labels, group_rows, like_input, one_per_row, prompt_ids, unit_rows
from verl_mupo.defaults import DEFAULTS

__all__ = ["constrained_partition", "effective_num_groups", "partition_inertia", "PartitionResult"]


def _int_arg(name: str, value, minimum: int) -> int:
    """``value`` as an int after checking it is an integer ``>= minimum`` (the message names the
    ``algorithm.mupo`` key)."""
    value = check_integer(f"{name} (algorithm.mupo.{name})", value)
    if value < minimum:
        why = " (a group of one response has no baseline)" if name == "min_group_size" else ""
        raise ValueError(f"{name} (algorithm.mupo.{name}) must be >= {minimum}{why}, got {value}")
    return value


def effective_num_groups(num_responses: int | np.ndarray, num_groups: int, min_group_size: int):
    """``K_eff = max(1, min(K, floor(n / G_min)))``: the most groups a prompt with ``n`` valid
    responses can be split into without a group smaller than ``G_min``."""
    n = np.asarray(num_responses)
    k = np.minimum(num_groups, n // min_group_size)
    return np.maximum(k, 1)


@dataclass(frozen=True)
class PartitionResult:
    """Labels plus the per-prompt facts the trainer logs.

    Attributes:
        labels: ``(B,)`` int64, group id of each row inside its prompt, ``0 .. K_eff - 1``.
        num_groups: ``(P,)`` int64, ``K_eff`` of each prompt (in ``np.unique(index)`` order).
        group_sizes: list of ``(K_eff,)`` arrays, the size of every group of every prompt.
    """

    labels: np.ndarray
    num_groups: np.ndarray
    group_sizes: list


def constrained_partition(
    embeddings,
    index,
    num_groups: int = DEFAULTS["num_groups"],
    min_group_size: int = DEFAULTS["min_group_size"],
    seed: int = DEFAULTS["seed"],
    *,
    n_init: int = DEFAULTS["n_init"],
    max_iter: int = DEFAULTS["max_iter"],
    valid=None,
    return_details: bool = False,
):
    """Split each prompt's responses into at most ``num_groups`` groups of at least
    ``min_group_size`` members.

    Args:
        embeddings: ``(B, d)`` float array or tensor, one row per response. Rows are L2-normalised
            here (a zero row raises).
        index: ``(B,)`` prompt id of each row (any hashable values of one kind, e.g. verl's ``uid``
            strings; ``1`` and ``"1"`` in one batch are refused).
        num_groups: K, the number of groups per prompt (paper: 3), >= 1.
        min_group_size: G_min, the smallest allowed group (paper: 3), >= 2.
        seed: seed of the random projection and of k-means++ initialisation, an integer >= 0.
        n_init: restarts per prompt; the one with the lowest inertia wins.
        max_iter: Lloyd iterations per restart.
        valid: optional ``(B,)`` bool mask. Invalid rows (empty or failed responses) take no part in
            clustering and get label ``-1``; ``K_eff`` is computed from the valid rows only.
        return_details: return a :class:`PartitionResult` instead of the labels alone.

    Returns:
        ``(B,)`` int64 labels of the same kind as ``embeddings`` (numpy array or torch tensor on its
        device; an empty batch gives an empty array). Embeddings of any float, integer or bool dtype
        are computed in float32 (float64 stays float64). A prompt
        with ``n`` valid rows gets ``K_eff = max(1, min(K, floor(n / G_min)))`` groups, never a group
        smaller than ``G_min`` unless ``n < G_min`` (then one group).
    """
    num_groups = _int_arg("num_groups", num_groups, 1)
    min_group_size = _int_arg("min_group_size", min_group_size, 2)
    n_init = _int_arg("n_init", n_init, 1)
    max_iter = _int_arg("max_iter", max_iter, 1)
    seed = _int_arg("seed", seed, 0)
    x, nonzero = unit_rows(embeddings)
    mask = np.ones(len(x), dtype=bool) if valid is None else one_per_row(valid, "valid", len(x)).astype(bool)
    check_nonzero_rows(nonzero, mask)

    prompt, num_prompts = prompt_ids(index, len(x))
    labels = np.full(len(x), -1, dtype=np.int64)
    counts = np.bincount(prompt[mask], minlength=num_prompts)
    k_eff_all = np.where(counts > 0, effective_num_groups(counts, num_groups, min_group_size), 1).astype(np.int64)
    sizes_all: list = [np.zeros(0, dtype=np.int64)] * num_prompts
    direction = np.random.default_rng(seed).standard_normal(x.shape[1]).astype(x.dtype)
    proj = x @ direction

    # valid rows grouped by prompt; each (n, K_eff) bucket of prompts becomes one dense (P, n) batch
    valid_rows = np.nonzero(mask)[0]
    by_prompt = valid_rows[np.argsort(prompt[valid_rows], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for n, k in sorted({(int(c), int(k)) for c, k in zip(counts, k_eff_all) if c > 0}):
        members = np.nonzero((counts == n) & (k_eff_all == k))[0]
        rows = by_prompt[starts[members][:, None] + np.arange(n)[None, :]]  # (P, n)
        # canonical order: by projection, ties broken by the leading embedding values
        keys = [x[rows, j] for j in range(min(3, x.shape[1]) - 1, -1, -1)] + [proj[rows]]
        rows = np.take_along_axis(rows, np.lexsort(keys, axis=-1), axis=1)
        if k == 1:
            lab = np.zeros(rows.shape, dtype=np.int64)
        else:
            lab = _batched_constrained_kmeans(x[rows], k, min_group_size, n_init, max_iter, seed)
        lab = _canonical_relabel(lab, k)
        labels[rows.ravel()] = lab.ravel()
        group_counts = (lab[:, :, None] == np.arange(k)).sum(1)
        for p, c in zip(members, group_counts):
            sizes_all[p] = c

    out = like_input(labels, embeddings)
    if return_details:
        return PartitionResult(labels=labels, num_groups=k_eff_all, group_sizes=sizes_all)
    return out


def partition_inertia(embeddings, index, labels) -> float:
    """Sum over prompts and groups of squared Euclidean distances of L2-normalised rows to their
    group mean (the k-means objective, comparable with ``k_means_constrained``'s ``inertia_``)."""
    x = unit_rows(as_numpy(embeddings).astype(np.float64))[0]
    lab = group_labels(labels, len(x))
    total = 0.0
    for rows in group_rows(index, len(x)):
        for k in np.unique(lab[rows]):
            if k < 0:
                continue
            pts = x[rows[lab[rows] == k]]
            total += float(((pts - pts.mean(0)) ** 2).sum())
    return total


def _kmeanspp_init(gram: np.ndarray, k: int, n_init: int, seed: int) -> np.ndarray:
    """k-means++ seeding on Gram matrices, batched. ``gram``: (P, n, n) of unit rows ->
    (P * n_init, k) row numbers of the initial centres.

    The random numbers are drawn once and shared by every prompt, so a prompt's result depends
    only on its own (canonically ordered) rows and the seed."""
    rng = np.random.default_rng(seed + 1)
    p, n, _ = gram.shape
    first = np.tile(rng.integers(0, n, size=n_init), p)
    u = np.tile(rng.random((n_init, k)), (p, 1))
    g = np.repeat(gram, n_init, axis=0)  # (B, n, n)
    b = g.shape[0]
    ar = np.arange(b)
    picks = np.empty((b, k), dtype=np.int64)
    picks[:, 0] = first
    d2 = np.maximum(2.0 - 2.0 * g[ar, first], 0.0)  # ||x_i - x_first||^2, (B, n)
    for j in range(1, k):
        cdf = np.cumsum(d2, axis=1)
        total = cdf[:, -1:]
        target = u[:, j : j + 1] * np.where(total > 0, total, 1.0)
        pick = np.minimum((cdf < target).sum(1), n - 1)
        # every point coincides with a chosen centre: take any other row
        picks[:, j] = np.where(total[:, 0] > 0, pick, (first + j) % n)
        d2 = np.minimum(d2, np.maximum(2.0 - 2.0 * g[ar, picks[:, j]], 0.0))
    return picks


def _exact_assign(cost: np.ndarray, k: int, g_min: int) -> np.ndarray:
    """Min-cost assignment of ``n`` points to ``k`` groups, every group >= ``g_min``.

    ``cost``: (n, k). Each group has ``g_min`` mandatory slots (cost lowered by a constant larger
    than the total cost range, so an optimal assignment fills all of them) and ``n - k * g_min``
    free slots."""
    n = cost.shape[0]
    free = n - k * g_min
    big = (np.abs(cost).max() + 1.0) * (n + 1)
    full = np.concatenate([np.repeat(cost - big, g_min, axis=1), np.repeat(cost, free, axis=1)], axis=1)
    r, c = linear_sum_assignment(full)
    slot_group = np.concatenate([np.repeat(np.arange(k), g_min), np.repeat(np.arange(k), free)])
    lab = np.empty(n, dtype=np.int64)
    lab[r] = slot_group[c]
    return lab


def _costs(gram: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Squared distance of every unit row to every group mean, from Gram matrices.

    ``gram``: (B, n, n), ``onehot``: (B, n, k) -> (B, n, k) with
    ``||x_i - c_k||^2 = 1 - 2 (G M)_ik / s_k + (M^T G M)_kk / s_k^2``."""
    sizes = np.maximum(onehot.sum(1), 1.0)  # (B, k)
    gm = gram @ onehot  # (B, n, k)
    cc = np.einsum("bnk,bnk->bk", onehot, gm) / sizes**2
    return 1.0 - 2.0 * gm / sizes[:, None, :] + cc[:, None, :]


def _batched_constrained_kmeans(x, k, g_min, n_init, max_iter, seed) -> np.ndarray:
    """``x``: (P, n, d) unit rows. Returns (P, n) labels, best of ``n_init`` restarts.

    Every step works on the (P, n, n) Gram matrices: centroids are means of rows, so distances to
    them need only inner products between rows."""
    p, n, _ = x.shape
    gram = (x @ x.transpose(0, 2, 1)).astype(np.float64)
    picks = _kmeanspp_init(gram, k, n_init, seed)
    g = np.repeat(gram, n_init, axis=0)
    b = g.shape[0]
    ar = np.arange(b)
    # initial costs: distance to the picked rows
    cost = np.maximum(2.0 - 2.0 * g[ar[:, None], :, picks].transpose(0, 2, 1), 0.0)  # (B, n, k)
    eye = np.eye(k)
    labels = np.full((b, n), -1, dtype=np.int64)
    active = ar
    for _ in range(max_iter):
        new = _constrained_argmin(cost, k, g_min)
        changed = (new != labels[active]).any(1)
        labels[active] = new
        active = active[changed]
        if len(active) == 0:
            break
        cost = _costs(g[active], eye[labels[active]])
    labels = _local_search(g, labels, k, g_min)
    final = _costs(g, eye[labels])
    inertia = np.take_along_axis(final, labels[:, :, None], 2)[:, :, 0].sum(1)
    best = inertia.reshape(p, n_init).argmin(1)
    return labels.reshape(p, n_init, n)[np.arange(p), best]


def _local_search(gram: np.ndarray, labels: np.ndarray, k: int, g_min: int, max_steps: int = 200) -> np.ndarray:
    """Improve Lloyd's result by the best single move or pairwise swap, one per problem per round,
    until no move or swap lowers the k-means objective (a Hartigan-style refinement that Lloyd's
    nearest-centre rule cannot make). Moves keep every group >= ``g_min``; swaps keep sizes.

    With unit rows and ``S_k`` the sum of group ``k``, inertia is ``n - sum_k |S_k|^2 / s_k``; every
    change below is computed exactly from the Gram matrix. ``gram``: (B, n, n), ``labels``: (B, n)."""
    eye = np.eye(k)
    labels = labels.copy()
    active = np.arange(len(labels))
    n = labels.shape[1]
    for _ in range(max_steps):
        if len(active) == 0:
            break
        g, lab = gram[active], labels[active]
        m = eye[lab]  # (A, n, k)
        s = m.sum(1)  # (A, k)
        gm = g @ m  # (A, n, k): x_i . S_k
        ss = np.einsum("bnk,bnk->bk", m, gm)  # |S_k|^2
        own = np.take_along_axis(gm, lab[:, :, None], 2)[:, :, 0]  # x_i . S_a
        s_own = np.take_along_axis(s, lab, 1)  # (A, n)
        ss_own = np.take_along_axis(ss, lab, 1)
        # move i from its group a to group b
        with np.errstate(divide="ignore", invalid="ignore"):
            loss_a = (ss_own - 2 * own + 1) / (s_own - 1) - ss_own / s_own  # change of |S_a|^2/s_a
        gain_b = (ss[:, None, :] + 2 * gm + 1) / (s[:, None, :] + 1) - ss[:, None, :] / s[:, None, :]
        d_move = -(loss_a[:, :, None] + gain_b)  # (A, n, k)
        blocked = (s_own - 1 < g_min)[:, :, None] | (lab[:, :, None] == np.arange(k))
        d_move = np.where(blocked, np.inf, d_move)
        # swap i (group a) with j (group b)
        gj_a = np.take_along_axis(gm, lab[:, None, :].repeat(n, 1), 2)  # [b, j, i] = x_j . S_{a(i)}
        # change of |S_a|^2 when i leaves a and j joins: -2 x_i.S_a + 2 x_j.S_a + 2 - 2 G_ij
        da = -2 * own[:, :, None] + 2 * gj_a.transpose(0, 2, 1) + 2 - 2 * g  # [b, i, j]
        term = da / s_own[:, :, None]
        d_swap = -(term + term.transpose(0, 2, 1))
        d_swap = np.where(lab[:, :, None] == lab[:, None, :], np.inf, d_swap)
        flat_move = d_move.reshape(len(active), -1)
        flat_swap = d_swap.reshape(len(active), -1)
        bm, bs = flat_move.argmin(1), flat_swap.argmin(1)
        vm, vs = flat_move[np.arange(len(active)), bm], flat_swap[np.arange(len(active)), bs]
        improve = np.minimum(vm, vs) < -1e-9
        if not improve.any():
            break
        take_move = improve & (vm <= vs)
        take_swap = improve & ~(vm <= vs)
        rows = active[take_move]
        i, b = np.divmod(bm[take_move], k)
        labels[rows, i] = b
        rows = active[take_swap]
        i, j = np.divmod(bs[take_swap], n)
        li, lj = labels[rows, i], labels[rows, j]
        labels[rows, i], labels[rows, j] = lj, li
        active = active[improve]
    return labels


def _constrained_argmin(cost: np.ndarray, k: int, g_min: int) -> np.ndarray:
    """Nearest-centre assignment where it respects the minimum size, the exact constrained
    assignment elsewhere. ``cost``: (A, n, k) -> (A, n) labels."""
    new = cost.argmin(-1)
    counts = (new[:, :, None] == np.arange(k)).sum(1)
    for i in np.nonzero((counts < g_min).any(1))[0]:
        new[i] = _exact_assign(cost[i], k, g_min)
    return new


def _canonical_relabel(lab: np.ndarray, k: int) -> np.ndarray:
    """Renumber the groups of each row of ``lab`` (P, n) by first appearance (canonical order)."""
    n = lab.shape[1]
    first = np.where(lab[:, :, None] == np.arange(k), np.arange(n)[None, :, None], n).min(1)  # (P, k)
    order = np.argsort(first, axis=1, kind="stable")
    remap = np.empty_like(order)
    np.put_along_axis(remap, order, np.broadcast_to(np.arange(k), order.shape), axis=1)
    return np.take_along_axis(remap, lab, axis=1)
