"""The MUPO group stage: everything MUPO does with a whole batch of responses once their
embeddings and accuracies are known. One implementation, used by the trainer hook, the batch
entry point (``verl_mupo.batch``) and the benchmarks. Pure numpy/torch; no verl import.

Given unit embeddings, prompt ids and binary accuracy it returns, per row: the group label, the
load-balancing weight, the gated and scaled diversity ``div_i`` and the change ``delta_i`` to add to
the reward the reward manager produced (``base_i = (1 - w_f) acc_i + w_f format_i``)::

    convex   (authors' code): r_i = (1 - w_f - lambda) acc_i + w_f format_i + lambda div_i
                              delta_i = lambda (div_i - acc_i)
    additive                : r_i = (1 - w_f) acc_i + w_f format_i + lambda div_i
                              delta_i = lambda div_i

``div_i = diversity_scale * d_i`` where ``d_i`` is :func:`verl_mupo.diversity.diversity_bonus`.
A prompt split into a single group (K=1, or too few responses) gets ``delta = 0``: MUPO with one
group is GRPO exactly, whatever lambda is.

All-correct prompts: every response has ``acc = 1``, so the rewards of a group differ only by the
diversity term and the format, and per-group normalisation turns those small differences into
advantages of order 1 (one 15/15-correct prompt: -1.32 to 1.43). That is the paper's formula and the
default; ``mupo/frac_all_correct`` and the estimator's ``mupo/all_correct_adv_abs_mean`` show how
much of the batch it concerns. ``online_filtering`` (the authors' option) marks the rows of prompts
whose mean accuracy is ``<= filter_low`` or ``>= filter_high``; the estimator gives them zero
advantage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from verl_mupo._arrays import as_numpy, check_binary_accuracy, check_finite_result, one_per_row, prompt_ids
from verl_mupo.advantages import load_balance_weights
from verl_mupo import metric_names as M
from verl_mupo.config import MupoConfig
from verl_mupo.diversity import diversity_bonus, mean_pairwise_distance
from verl_mupo.partition import constrained_partition

__all__ = ["GroupStageResult", "run_group_stage", "check_binary_accuracy"]


@dataclass
class GroupStageResult:
    """Per-row outputs (all ``(B,)`` numpy arrays) and the step's ``mupo/*`` metrics.

    Attributes:
        labels: int64 group of each row inside its prompt (-1: invalid row).
        weights: float64 load-balancing weight.
        diversity: float32 gated, scaled diversity ``div_i``.
        score_delta: float32 change to add to each row's reward.
        lam: lambda of this step.
        filtered: bool, rows of prompts the online filter removes (all False when it is off).
        all_correct: bool, valid rows of prompts whose every valid response is correct.
        metrics: ``mupo/*`` floats.
    """

    labels: np.ndarray
    weights: np.ndarray
    diversity: np.ndarray
    score_delta: np.ndarray
    lam: float
    filtered: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    all_correct: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    metrics: dict = field(default_factory=dict)


def run_group_stage(
    embeddings,
    index,
    acc,
    config: MupoConfig,
    lam: float,
    valid=None,
    embed_seconds: float = 0.0,
) -> GroupStageResult:
    """Cluster, weigh and score the diversity of one batch.

    Args:
        embeddings: ``(B, d)`` response embeddings.
        index: ``(B,)`` prompt ids (verl's ``uid``).
        acc: ``(B,)`` binary accuracy.
        config: the MUPO settings.
        lam: diversity weight lambda for this step (:func:`verl_mupo.diversity.diversity_weight`).
        valid: optional ``(B,)`` bool; invalid rows (verl's padding) get label -1, weight 1, no bonus.
        embed_seconds: time the caller spent embedding, reported as ``mupo/time_embed_s``.

    Raises:
        ValueError: bad inputs; load-balancing weights, diversity terms or reward changes that come
            out NaN/inf in float32 (the message names ``algorithm.mupo.beta``, ``diversity_scale`` or
            ``lambda_max``), so a blown-up setting is not blamed on the reward function later.
    """
    if not isinstance(config, MupoConfig):
        raise TypeError(f"config must be a MupoConfig (MupoConfig.from_mapping(...) builds one), got {type(config).__name__}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)) or not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam (lambda of this step) must be a finite number >= 0, got {lam!r}")
    emb = as_numpy(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {emb.shape}")
    b = emb.shape[0]
    mask = np.ones(b, dtype=bool) if valid is None else one_per_row(valid, "valid", b).astype(bool)
    acc = check_binary_accuracy(np.where(mask, one_per_row(acc, "acc", b).astype(np.float64), 0.0), b)
    t0 = time.perf_counter()
    part = constrained_partition(
        embeddings, index, config.num_groups, config.min_group_size, seed=config.seed,
        n_init=config.n_init, max_iter=config.max_iter, valid=mask, return_details=True,
    )
    labels = part.labels
    t1 = time.perf_counter()
    weights = load_balance_weights(index, labels, config.beta)
    d = as_numpy(diversity_bonus(embeddings, index, labels, acc)).astype(np.float64)
    with np.errstate(over="ignore"):  # checked below, naming the setting
        div = float(config.diversity_scale) * d
    prompt, num_prompts = prompt_ids(index, b)
    multi = part.num_groups[prompt] > 1  # rows whose prompt has more than one group
    n_valid = np.bincount(prompt[mask], minlength=num_prompts)
    mean_acc = np.bincount(prompt[mask], weights=acc[mask], minlength=num_prompts) / np.maximum(n_valid, 1)
    has_rows = n_valid > 0
    all_correct_p = has_rows & (mean_acc == 1)
    all_wrong_p = has_rows & (mean_acc == 0)
    if config.online_filtering:
        filtered_p = has_rows & ((mean_acc <= config.filter_low) | (mean_acc >= config.filter_high))
    else:
        filtered_p = np.zeros(num_prompts, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, naming the setting
        delta = lam * (div - acc) if config.reward_composition == "convex" else lam * div
        delta = np.where(multi & mask, delta, 0.0)
    # the advantages' inputs, as the estimator will read them (float32): finite, or an error naming the
    # setting behind them (the ranges of MupoConfig keep them finite; lam and a config built around
    # those checks are not)
    check_finite_result(div, "diversity terms", f"algorithm.mupo.diversity_scale={config.diversity_scale}",
                        np.float32)
    check_finite_result(delta, "reward changes lambda * (diversity - acc)"
                        if config.reward_composition == "convex" else "reward changes lambda * diversity",
                        f"lambda={lam} (algorithm.mupo.lambda_max={config.lambda_max}, lambda_min="
                        f"{config.lambda_min}) times algorithm.mupo.diversity_scale={config.diversity_scale}",
                        np.float32)
    t2 = time.perf_counter()

    sizes = np.concatenate([s for s in part.group_sizes if s is not None and len(s)] or [np.zeros(0)])
    counted = np.array([s is not None and len(s) > 0 for s in part.group_sizes], dtype=bool)
    k_eff = part.num_groups[counted]
    pairwise = mean_pairwise_distance(emb[mask], as_numpy(index)[mask]) if mask.any() else np.array([np.nan])
    correct_multi = (acc == 1) & multi & mask
    n_prompts = max(int(has_rows.sum()), 1)
    metrics = {
        M.LAMBDA: float(lam),
        M.ACC_MEAN: float(acc[mask].mean()) if mask.any() else 0.0,
        M.DIVERSITY_BONUS_MEAN: float(div[correct_multi].mean()) if correct_multi.any() else 0.0,
        M.DIVERSITY_REWARD_MEAN: float((lam * div)[mask].mean()) if mask.any() else 0.0,
        M.SCORE_DELTA_MEAN: float(delta[mask].mean()) if mask.any() else 0.0,
        M.PAIRWISE_DISTANCE_MEAN: float(np.nanmean(pairwise)) if np.isfinite(pairwise).any() else 0.0,
        M.GROUP_SIZE_MIN: float(sizes.min()) if len(sizes) else 0.0,
        M.GROUP_SIZE_MEAN: float(sizes.mean()) if len(sizes) else 0.0,
        M.GROUP_SIZE_MAX: float(sizes.max()) if len(sizes) else 0.0,
        M.NUM_GROUPS_MEAN: float(k_eff.mean()) if len(k_eff) else 0.0,
        M.FRAC_PROMPTS_REDUCED_K: float((k_eff < config.num_groups).mean()) if len(k_eff) else 0.0,
        M.LOAD_WEIGHT_MAX: float(weights[labels >= 0].max()) if (labels >= 0).any() else 1.0,
        M.FRAC_ALL_CORRECT: float(all_correct_p.sum()) / n_prompts,
        M.FRAC_ALL_WRONG: float(all_wrong_p.sum()) / n_prompts,
        M.TIME_EMBED_S: float(embed_seconds),
        M.TIME_CLUSTER_S: float(t1 - t0),
        M.TIME_DIVERSITY_S: float(t2 - t1),
    }
    if config.online_filtering:
        metrics[M.FRAC_FILTERED] = float(filtered_p.sum()) / n_prompts
    return GroupStageResult(
        labels=labels, weights=weights, diversity=div.astype(np.float32),
        score_delta=delta.astype(np.float32), lam=float(lam), filtered=filtered_p[prompt] & mask,
        all_correct=all_correct_p[prompt] & mask, metrics=metrics,
    )
