"""Batch-level MUPO for other verl projects: a whole ``DataProto`` in, MUPO's group results out.

    from verl_mupo.batch import compute_mupo_batch_rewards
    out = compute_mupo_batch_rewards(data, tokenizer, config={"num_groups": 3}, step=10, total_steps=100)

It runs the same :func:`verl_mupo.run_group_stage` as the trainer hook.
"""

from __future__ import annotations

import time

import numpy as np

from verl_mupo.config import MupoConfig
from verl_mupo.diversity import diversity_weight
from verl_mupo.embedding import Embedder, get_embedder
from verl_mupo.group_stage import GroupStageResult, run_group_stage
from verl_mupo.text import texts_to_embed

__all__ = ["compute_mupo_batch_rewards"]


def _accuracy(data) -> np.ndarray:
    if "acc" in data.non_tensor_batch:
        return np.asarray(data.non_tensor_batch["acc"], dtype=np.float64)
    if "reward_extra_info" in data.non_tensor_batch:
        return np.asarray([float(info["acc"]) for info in data.non_tensor_batch["reward_extra_info"]])
    raise KeyError("compute_mupo_batch_rewards needs a binary accuracy per row: non_tensor_batch['acc'] "
                   "(or reward_extra_info dicts with 'acc'), as the mupo reward manager returns it")


def compute_mupo_batch_rewards(
    data,
    tokenizer,
    config: MupoConfig | dict | None = None,
    step: int = 0,
    total_steps: int = 1,
    embedder: Embedder | None = None,
    valid=None,
    write: bool = True,
) -> GroupStageResult:
    """MUPO's group stage for a verl ``DataProto``.

    Args:
        data: ``DataProto`` with ``batch["responses"]`` (B, T), ``batch["response_mask"]`` (or the
            response part of ``attention_mask``), ``non_tensor_batch["uid"]`` and a binary
            ``non_tensor_batch["acc"]``.
        tokenizer: decodes the responses.
        config: :class:`MupoConfig` or a mapping of ``algorithm.mupo`` keys.
        step, total_steps: position in training for lambda (0-based step).
        embedder: anything with ``encode(texts) -> (n, d)``; default: the configured
            sentence-transformers model.
        valid: optional (B,) bool; rows set False (padding) are left out.
        write: also store ``mupo_label``, ``mupo_diversity`` (gated, scaled) and ``mupo_score_delta``
            (lambda-weighted change to add to the reward) in ``data.non_tensor_batch``.

    Returns:
        :class:`verl_mupo.GroupStageResult` (labels, weights, diversity, score_delta, lam, metrics).
    """
    cfg = config if isinstance(config, MupoConfig) else MupoConfig.from_mapping(config)
    responses = data.batch["responses"]
    if "response_mask" in data.batch.keys():
        mask = data.batch["response_mask"]
    else:
        mask = data.batch["attention_mask"][:, -responses.shape[1]:]
    lengths = mask.sum(-1).tolist()
    texts = tokenizer.batch_decode([responses[i, : int(n)].tolist() for i, n in enumerate(lengths)],
                                   skip_special_tokens=True)
    texts = texts_to_embed(texts, cfg.embed_text)
    embedder = embedder or get_embedder(cfg.embedder)
    t0 = time.perf_counter()
    emb = np.asarray(embedder.encode(texts), dtype=np.float32)
    seconds = time.perf_counter() - t0
    lam = diversity_weight(step, total_steps, cfg.lambda_max, cfg.lambda_min, cfg.lambda_schedule, cfg.lambda_decay_rate)
    uids = np.asarray(data.non_tensor_batch["uid"], dtype=object)
    result = run_group_stage(emb, uids, _accuracy(data), cfg, lam, valid=valid, embed_seconds=seconds)
    if write:
        data.non_tensor_batch["mupo_label"] = result.labels
        data.non_tensor_batch["mupo_diversity"] = result.diversity
        data.non_tensor_batch["mupo_score_delta"] = result.score_delta
    return result
