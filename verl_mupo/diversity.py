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

from verl_mupo._arrays import (
    check_binary_accuracy,
    check_integer,
    check_nonzero_rows,
    check_number,
    floats_like,
    group_labels,
    prompt_ids,
    unit_rows,
)
from verl_mupo.defaults import DEFAULTS

__all__ = ["diversity_bonus", "diversity_weight", "mean_pairwise_distance", "check_lambda_schedule", "LAMBDA_SCHEDULES"]

LAMBDA_SCHEDULES = ("cosine", "exponential", "constant")

#: Mean cosine distances below this count as 0: identical responses leave float32 rounding (measured up to
#: 2e-7 for 5-d, 5e-7 for 1024-d, 1e-6 for 4096-d rows), and a mean cosine above 0.99999 is one strategy.
ZERO_DISTANCE = 1e-5


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
        index: ``(B,)`` prompt id of each row; one kind of id for all rows.
        labels: ``(B,)`` integer group of each row inside its prompt; rows with ``-1`` are ignored
            (they get 0 and are nobody's neighbour).
        correct: ``(B,)`` binary accuracy (0 or 1); the bonus is paid only where it is 1.

    Returns:
        ``(B,)`` float values in ``[0, 2]``, of the same kind as ``embeddings`` (numpy array or
        tensor on its device) and, for float embeddings, their dtype (float32 for integer ones); 0
        where the response is not correct, not clustered, or its prompt has one group. Computed in
        float32 (float64 for float64 embeddings); a mean distance below ``ZERO_DISTANCE`` (1e-5,
        i.e. a mean cosine above 0.99999) is 0, so identical responses earn exactly 0 rather than
        float32 rounding (up to 1e-6 for identical 4096-d rows, measured).

    Raises:
        ValueError: arrays of different lengths, mixed kinds of prompt ids, non-integer labels or
            labels below -1, ``correct`` not 0 or 1, NaN/inf embeddings, an all-zero embedding row
            with a label >= 0 (as :func:`verl_mupo.partition.constrained_partition` refuses it).
    """
    x, nonzero = unit_rows(embeddings)
    b = x.shape[0]
    lab = group_labels(labels, b)
    check_nonzero_rows(nonzero, lab >= 0)
    acc = check_binary_accuracy(correct, b, "correct")
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
        d = np.clip(1.0 - mean_cos, 0.0, 2.0)
        out[rows] = np.where(d < ZERO_DISTANCE, 0.0, d)
    return floats_like(out, embeddings)


def mean_pairwise_distance(embeddings, index) -> np.ndarray:
    """Mean ``1 - cos`` over all pairs of responses of each prompt: the diversity-collapse curve.

    Returns ``(P,)`` float64 numpy array in ``np.unique(index)`` order (NaN for a prompt with one
    response)."""
    x = unit_rows(embeddings)[0]
    prompt, num_prompts = prompt_ids(index, x.shape[0])
    if num_prompts == 0:
        return np.zeros(0)
    s = _segment_sums(x, prompt, num_prompts).astype(np.float64)
    n = np.bincount(prompt, minlength=num_prompts).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cos = ((s**2).sum(1) - n) / (n * (n - 1))
    return np.where(n > 1, 1.0 - mean_cos, np.nan)


def check_lambda_schedule(lambda_max, lambda_min, schedule, decay_rate=None) -> tuple[float, float, str, float | None]:
    """The lambda schedule's settings after checking them (the one home of these checks, used by
    :func:`diversity_weight` and :class:`verl_mupo.config.MupoConfig`): ``lambda_max`` and
    ``lambda_min`` finite numbers with ``0 <= lambda_min <= lambda_max`` (the weight anneals down),
    ``schedule`` one of :data:`LAMBDA_SCHEDULES`, ``decay_rate`` ``None`` or a finite number ``>= 0``;
    the exponential schedule without a rate needs ``lambda_min > 0``.

    Returns:
        ``(lambda_max, lambda_min, schedule, decay_rate)`` as floats (``decay_rate`` may be ``None``).

    Raises:
        ValueError: naming the argument and its ``algorithm.mupo`` key."""
    lambda_max = check_number("lambda_max (algorithm.mupo.lambda_max)", lambda_max)
    lambda_min = check_number("lambda_min (algorithm.mupo.lambda_min)", lambda_min)
    if not 0 <= lambda_min <= lambda_max:
        raise ValueError(f"lambda_min (algorithm.mupo.lambda_min): need 0 <= lambda_min <= lambda_max, got "
                         f"lambda_min={lambda_min}, lambda_max={lambda_max}")
    if not isinstance(schedule, str) or schedule not in LAMBDA_SCHEDULES:
        raise ValueError(f"lambda_schedule (algorithm.mupo.lambda_schedule) must be one of {LAMBDA_SCHEDULES}, "
                         f"got {schedule!r}")
    if decay_rate is not None:
        decay_rate = check_number("decay_rate (algorithm.mupo.lambda_decay_rate)", decay_rate)
        if decay_rate < 0:
            raise ValueError(f"decay_rate (algorithm.mupo.lambda_decay_rate) must be null or >= 0, got {decay_rate}")
    elif schedule == "exponential" and lambda_min <= 0:
        raise ValueError("the exponential schedule without a decay rate ends at lambda_min, so it needs "
                         "lambda_min > 0 (algorithm.mupo.lambda_min), or set algorithm.mupo.lambda_decay_rate")
    return lambda_max, lambda_min, schedule, decay_rate


def diversity_weight(
    step: int,
    total_steps: int,
    lambda_max: float = DEFAULTS["lambda_max"],
    lambda_min: float = DEFAULTS["lambda_min"],
    schedule: str = DEFAULTS["lambda_schedule"],
    decay_rate: float | None = DEFAULTS["lambda_decay_rate"],
) -> float:
    """Weight lambda of the diversity term at training step ``step`` of ``total_steps``.

    ``t = clip(step / total_steps, 0, 1)`` (``t = 0`` when ``total_steps`` is 0):

    - ``cosine`` (paper): ``lambda_min + (lambda_max - lambda_min) * (1 + cos(pi t)) / 2``;
    - ``exponential`` (authors' code): ``lambda_max * exp(-decay_rate * step)``; with
      ``decay_rate=None`` the rate is ``ln(lambda_max / lambda_min) / total_steps`` so that it ends at
      ``lambda_min``;
    - ``constant``: ``lambda_max``.

    verl's first training step is ``global_steps == 1``; the trainer hook passes
    ``step = global_steps - 1`` and ``total_steps = total_training_steps - 1`` so that the first
    step uses ``lambda_max`` and the last ``lambda_min``
    (:meth:`verl_mupo.config.MupoConfig.lambda_for_step`).

    Raises:
        ValueError: ``step`` or ``total_steps`` not an integer ``>= 0``; the schedule's settings out of
            range (:func:`check_lambda_schedule`).
    """
    step = check_integer("step", step, 0)
    total_steps = check_integer("total_steps", total_steps, 0)
    lambda_max, lambda_min, schedule, decay_rate = check_lambda_schedule(lambda_max, lambda_min, schedule, decay_rate)
    if schedule == "constant":
        return lambda_max
    if schedule == "exponential":
        if decay_rate is None:
            if total_steps == 0:
                return lambda_max
            decay_rate = math.log(lambda_max / lambda_min) / total_steps
            return float(max(lambda_min, lambda_max * math.exp(-decay_rate * step)))
        return float(lambda_max * math.exp(-decay_rate * step))
    t = 0.0 if total_steps == 0 else min(step / total_steps, 1.0)
    return float(lambda_min + (lambda_max - lambda_min) * 0.5 * (1.0 + math.cos(math.pi * t)))
