"""A batch of responses in, MUPO's group results out. No verl import.

Two callers share every step here: the trainer hook (rows read from verl's batch storage by
:mod:`verl_mupo.glue.storage`) and :func:`compute_mupo_batch_rewards`, the entry point for other
verl projects that hold a whole ``DataProto``::

    from verl_mupo.batch import compute_mupo_batch_rewards
    out = compute_mupo_batch_rewards(data, tokenizer, config={"num_groups": 3},
                                     global_step=10, total_training_steps=100)

- :func:`batch_rows` turns token ids, masks, uids and reward information into :class:`BatchRows`
  (texts, binary accuracy, valid rows), with one error for a missing ``acc``;
- :func:`group_stage_of_rows` embeds the valid rows and runs :func:`verl_mupo.run_group_stage`;
- lambda comes from :meth:`verl_mupo.MupoConfig.lambda_for_step` (verl's 1-based ``global_steps``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from verl_mupo._arrays import as_numpy
from verl_mupo.config import MupoConfig
from verl_mupo.embedding import Embedder, get_embedder
from verl_mupo.group_stage import GroupStageResult, run_group_stage
from verl_mupo.text import texts_to_embed

__all__ = ["BatchRows", "batch_rows", "group_stage_of_rows", "compute_mupo_batch_rewards", "MISSING_ACC"]

MISSING_ACC = (
    "MUPO needs a binary 'acc' for every response, found {found}. Use reward.reward_manager.name=mupo (it adds "
    "acc and format to reward_extra_info), or make reward.custom_reward_function return a dict with 'acc' in "
    "{{0, 1}}; for a DataProto, put it in non_tensor_batch['acc'] or in reward_extra_info dicts."
)


@dataclass(frozen=True)
class BatchRows:
    """What the group stage needs from a batch, all ``(B,)`` in row order.

    Attributes:
        uids: object array, the prompt id of each row (verl's ``uid``).
        texts: the decoded responses (``""`` for invalid rows).
        acc: float64 binary accuracy (0 for invalid rows).
        valid: bool, False for rows to leave out (verl's padding rows).
    """

    uids: np.ndarray
    texts: list
    acc: np.ndarray
    valid: np.ndarray


def _decode(tokenizer, responses, response_mask, valid: np.ndarray) -> list[str]:
    """The response tokens where the mask is 1, decoded without special tokens; ``""`` for invalid rows."""
    ids = as_numpy(responses)
    mask = as_numpy(response_mask).astype(bool)
    if ids.shape != mask.shape:
        raise ValueError(f"responses {ids.shape} and response_mask {mask.shape} differ in shape")
    rows = [ids[i][mask[i]].tolist() if valid[i] else [] for i in range(len(ids))]
    return tokenizer.batch_decode(rows, skip_special_tokens=True)


def _acc_value(v) -> float:
    return float(v.item() if hasattr(v, "item") else v)


def batch_rows(tokenizer, responses, response_mask, uids, reward_infos: Sequence[Mapping | None] | None = None,
               acc=None, valid=None) -> BatchRows:
    """Turn one batch into :class:`BatchRows`.

    Args:
        tokenizer: decodes the responses (``batch_decode``).
        responses: ``(B, T)`` token ids.
        response_mask: ``(B, T)``, 1 on the response's own tokens.
        uids: ``(B,)`` prompt id of each row.
        reward_infos: ``B`` dicts holding ``acc`` (verl's per-row ``reward_extra_info``), or
        acc: ``(B,)`` binary accuracy; exactly one of the two.
        valid: optional ``(B,)`` bool; False rows (padding) are neither decoded nor checked.

    Raises:
        KeyError: a valid row has no ``acc`` (message :data:`MISSING_ACC`).
    """
    uid_arr = np.asarray(list(uids) if not isinstance(uids, np.ndarray) else uids, dtype=object).reshape(-1)
    b = len(uid_arr)
    ok = np.ones(b, dtype=bool) if valid is None else as_numpy(valid).astype(bool).reshape(-1)
    if len(ok) != b:
        raise ValueError(f"valid has {len(ok)} entries for {b} rows")
    if (reward_infos is None) == (acc is None):
        raise ValueError("batch_rows takes either reward_infos (per-row dicts with 'acc') or acc, not both or neither")
    if acc is not None:
        accuracy = as_numpy(acc).astype(np.float64).reshape(-1)
        if len(accuracy) != b:
            raise ValueError(f"acc has {len(accuracy)} entries for {b} rows")
        accuracy = np.where(ok, accuracy, 0.0)
    else:
        infos = list(reward_infos)
        if len(infos) != b:
            raise ValueError(f"reward_infos has {len(infos)} entries for {b} rows")
        accuracy = np.zeros(b)
        for i in np.nonzero(ok)[0]:
            info = infos[i] or {}
            if "acc" not in info:
                raise KeyError(MISSING_ACC.format(found=f"keys {sorted(info)} in row {i}"))
            accuracy[i] = _acc_value(info["acc"])
    texts = _decode(tokenizer, responses, response_mask, ok)
    return BatchRows(uids=uid_arr, texts=texts, acc=accuracy, valid=ok)


def group_stage_of_rows(rows: BatchRows, cfg: MupoConfig, embedder: Embedder, lam: float) -> GroupStageResult:
    """Embed the valid rows (the text ``cfg.embed_text`` names) and run the group stage."""
    t0 = time.perf_counter()
    valid_texts = [t for t, v in zip(rows.texts, rows.valid) if v]
    emb_valid = np.asarray(embedder.encode(texts_to_embed(valid_texts, cfg.embed_text)), dtype=np.float32)
    embed_s = time.perf_counter() - t0
    if emb_valid.ndim != 2 or emb_valid.shape[0] != len(valid_texts):
        raise ValueError(f"the embedder returned shape {emb_valid.shape} for {len(valid_texts)} texts")
    embeddings = np.zeros((len(rows.texts), emb_valid.shape[1]), dtype=np.float32)
    embeddings[rows.valid] = emb_valid
    return run_group_stage(embeddings, rows.uids, rows.acc, cfg, lam, valid=rows.valid, embed_seconds=embed_s)


def _dataproto_accuracy(data):
    """``(acc, reward_infos)`` of a DataProto: ``non_tensor_batch['acc']`` or its ``reward_extra_info`` dicts."""
    ntb = data.non_tensor_batch
    if "acc" in ntb:
        return ntb["acc"], None
    if "reward_extra_info" in ntb:
        return None, list(ntb["reward_extra_info"])
    raise KeyError(MISSING_ACC.format(found=f"non_tensor_batch keys {sorted(ntb)}"))


def compute_mupo_batch_rewards(
    data,
    tokenizer,
    config: MupoConfig | dict | None = None,
    global_step: int = 1,
    total_training_steps: int = 1,
    embedder: Embedder | None = None,
    valid=None,
    write: bool = True,
) -> GroupStageResult:
    """MUPO's group stage for a verl ``DataProto``.

    Args:
        data: ``DataProto`` with ``batch["responses"]`` (B, T), ``batch["response_mask"]`` (or the
            response part of ``attention_mask``), ``non_tensor_batch["uid"]`` and a binary
            ``non_tensor_batch["acc"]`` (or ``reward_extra_info`` dicts with ``acc``).
        tokenizer: decodes the responses.
        config: :class:`MupoConfig` or a mapping of ``algorithm.mupo`` keys.
        global_step, total_training_steps: verl's 1-based ``trainer.global_steps`` and
            ``total_training_steps``, for lambda (:meth:`MupoConfig.lambda_for_step`: ``lambda_max`` at
            step 1).
        embedder: anything with ``encode(texts) -> (n, d)``; default: the configured
            sentence-transformers model, in this process.
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
    acc, infos = _dataproto_accuracy(data)
    rows = batch_rows(tokenizer, responses, mask, data.non_tensor_batch["uid"], reward_infos=infos, acc=acc,
                      valid=valid)
    lam = cfg.lambda_for_step(global_step, total_training_steps)
    result = group_stage_of_rows(rows, cfg, embedder or get_embedder(cfg.embedder), lam)
    if write:
        data.non_tensor_batch["mupo_label"] = result.labels
        data.non_tensor_batch["mupo_diversity"] = result.diversity
        data.non_tensor_batch["mupo_score_delta"] = result.score_delta
    return result
