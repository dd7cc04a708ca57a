"""Inter-group diversity (MUPO step 3) and the annealed weight lambda. Pure numpy; no verl import.

For a response ``i`` of prompt ``p`` in group ``k`` whose accuracy is 1::

    d_i = mean_{j in prompt p, group(j) != k} (1 - cos(e_i, e_j))

and ``d_i = 0`` when the response is not correct (precision gating) or its prompt has a single
group. With ``S_p`` the sum of the prompt's unit embeddings and ``S_pk`` that of group ``k`` this is
``1 - e_i . (S_p - S_pk) / (n_p - n_pk)``, computed for the whole batch at once.
"""

from __future__ import annotations

import math

import numpy as np

from verl_mupo._arrays import floats_like, one_per_row, prompt_ids, unit_rows

__all__ = ["diversity_bonus", "diversity_weight", "mean_pairwise_distance", "LAMBDA_SCHEDULES"]

LAMBDA_SCHEDULES = ("cosine", "exponential", "constant")


def _unit_rows(embeddings) -> np.ndarray:
    return unit_rows(embeddings)[0]


def _segment_sums(x: np.ndarray, segment: np.ndarray, num_segments: int) -> np.ndarray:
    """``out[s] = sum of x[i] with segment[i] == s``, as a sparse (segments x rows) 0/1 matrix times
    ``x``: rows summed in ascending order, deterministic, and free of the thread contention that
    makes torch's ``index_add_`` 30x slower on a busy 2-core machine (benchmarks/group_stage.py)."""
    from scipy.sparse import csr_matrix

    ones = np.ones(len(segment), dtype=x.dtype)
    m = csr_matrix((ones, (segment, np.arange(len(segment)))), shape=(num_segments, len(segment)))
    return np.asarray(m @ x)


def diversity_bonus(embeddings, index, labels, correct):
    """Mean cosine distance of each correct response to the same prompt's responses in the other
    groups.

    Args:
        embeddings: ``(B, d)`` response embeddings (normalised here).
        index: ``(B,)`` prompt id of each row.
        labels: ``(B,)`` group of each row inside its prompt; rows with ``-1`` are ignored (they get
            0 and are nobody's neighbour).
        correct: ``(B,)`` accuracy; the bonus is paid only where it equals 1.

    Returns:
        ``(B,)`` float values in ``[0, 2]``, of the same kind as ``embeddings`` (numpy array or
        tensor on its device) and, for float embeddings, their dtype (float32 for integer ones; computed
        in float32, float64 for float64); 0 where the response is not correct, not clustered, or its
        prompt has one group.
    """
    x = _unit_rows(embeddings)
    b = x.shape[0]
    lab = one_per_row(labels, "labels", b).astype(np.int64)
    acc = one_per_row(correct, "correct", b).astype(np.float64)
    if not np.all(np.isfinite(acc)):
        raise ValueError("accuracy contains NaN; the reward function must return a binary 'acc'")
    prompt, num_prompts = prompt_ids(index, b)
    if b == 0:
        return floats_like(np.zeros(0), embeddings)
    clustered = lab >= 0
    kmax = int(lab.max(initial=0)) + 1
    pg = prompt * kmax + np.where(clustered, lab, 0)  # (prompt, group) cell
    xc = x * clustered[:, None].astype(x.dtype)
    s_pk = _segment_sums(xc, pg, num_prompts * kmax)
    s_p = s_pk.reshape(num_prompts, kmax, -1).sum(1)
    n_p = np.bincount(prompt, weights=clustered.astype(np.float64), minlength=num_prompts)
    n_pk = np.bincount(pg, weights=clustered.astype(np.float64), minlength=num_prompts * kmax)
    others = n_p[prompt] - n_pk[pg]
    has_others = clustered & (others > 0)
    out = np.zeros(b)
    rows = np.nonzero(has_others & (acc == 1))[0]
    if len(rows):
        other_sum = s_p[prompt[rows]] - s_pk[pg[rows]]
        mean_cos = np.einsum("bd,bd->b", x[rows], other_sum).astype(np.float64) / others[rows]
        out[rows] = np.clip(1.0 - mean_cos, 0.0, 2.0)
    return floats_like(out, embeddings)


def mean_pairwise_distance(embeddings, index) -> np.ndarray:
    """Mean ``1 - cos`` over all pairs of responses of each prompt: the diversity-collapse curve.

    Returns ``(P,)`` float64 numpy array in ``np.unique(index)`` order (NaN for a prompt with one
    response)."""
    x = _unit_rows(embeddings)
    prompt, num_prompts = prompt_ids(index, x.shape[0])
    if num_prompts == 0:
        return np.zeros(0)
    s = _segment_sums(x, prompt, num_prompts).astype(np.float64)
    n = np.bincount(prompt, minlength=num_prompts).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cos = ((s**2).sum(1) - n) / (n * (n - 1))
    return np.where(n > 1, 1.0 - mean_cos, np.nan)


def diversity_weight(
    step: int,
    total_steps: int,
    lambda_max: float = 0.4,
    lambda_min: float = 0.1,
    schedule: str = "cosine",
    decay_rate: float | None = None,
) -> float:
    """Weight lambda of the diversity term at training step ``step`` of ``total_steps``.

    ``t = clip(step / total_steps, 0, 1)``:

    - ``cosine`` (paper): ``lambda_min + (lambda_max - lambda_min) * (1 + cos(pi t)) / 2``;
    - ``exponential`` (authors' code): ``lambda_max * exp(-decay_rate * step)``; with
      ``decay_rate=None`` the rate is ``ln(lambda_max / lambda_min) / total_steps`` so that it ends at
      ``lambda_min``;
    - ``constant``: ``lambda_max``.

    verl's first training step is ``global_steps == 1``; the trainer hook passes
    ``step = global_steps - 1`` and ``total_steps = total_training_steps - 1`` so that the first
    step uses ``lambda_max`` and the last ``lambda_min``.
    """
    if schedule not in LAMBDA_SCHEDULES:
        raise ValueError(f"unknown lambda schedule {schedule!r} (algorithm.mupo.lambda_schedule); use one of {LAMBDA_SCHEDULES}")
    if lambda_max < 0 or lambda_min < 0:
        raise ValueError(f"lambda_max and lambda_min must be >= 0, got {lambda_max}, {lambda_min}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if schedule == "constant":
        return float(lambda_max)
    if schedule == "exponential":
        if decay_rate is None:
            if total_steps <= 0:
                return float(lambda_max)
            if lambda_min <= 0:
                raise ValueError("the exponential schedule without lambda_decay_rate needs lambda_min > 0 "
                                 "(algorithm.mupo.lambda_min), or set algorithm.mupo.lambda_decay_rate")
            decay_rate = math.log(lambda_max / lambda_min) / total_steps
            return float(max(lambda_min, lambda_max * math.exp(-decay_rate * step)))
        return float(lambda_max * math.exp(-decay_rate * step))
    t = 0.0 if total_steps <= 0 else min(step / total_steps, 1.0)
    return float(lambda_min + (lambda_max - lambda_min) * 0.5 * (1.0 + math.cos(math.pi * t)))
