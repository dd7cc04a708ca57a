"""Debugging dump of each step's advantages: ``VERL_MUPO_DUMP_ADVANTAGES=<dir>``.

A small wrapper outside each trainer's hook (installed around it by
:func:`verl_mupo.glue.trainer_hook.patch_trainer` for the v1 trainer and by
:mod:`verl_mupo.glue.legacy_hook` for the legacy one); when the variable is set, after every
advantage computation it writes ``<dir>/step_<N>.npz`` with the rows' keys, uids, prompt and
response tokens, the mean advantage over each response's tokens, the summed score, and MUPO's labels
and reward change (empty in runs without MUPO). The end-to-end K=1-equals-GRPO tests read it.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from verl_mupo.glue.group_step import LAST_INFO_ATTR

__all__ = ["DUMP_ENV", "dump_directory", "write_dump", "dump_advantages", "dump_dataproto", "wrap_dump"]

DUMP_ENV = "VERL_MUPO_DUMP_ADVANTAGES"


def dump_directory() -> str | None:
    """The dump folder (``VERL_MUPO_DUMP_ADVANTAGES``), or ``None`` when dumping is off."""
    return os.environ.get(DUMP_ENV) or None


def write_dump(trainer, directory: str, keys, uids, prompts, responses, response_mask, advantages, scores) -> str:
    """Write ``<directory>/step_<global_steps>.npz``; returns the path.

    Args:
        keys, uids: ``(B,)`` row keys and prompt ids.
        prompts, responses: ``B`` per-row token id sequences (unpadded or padded).
        response_mask: ``(B, T)`` float tensor; advantages ``(B, T)``; scores ``(B,)``.
    """
    info = getattr(trainer, LAST_INFO_ATTR, None)
    mask = response_mask.float()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"step_{int(trainer.global_steps)}.npz")
    np.savez(
        path,
        keys=np.array(list(keys), dtype=object),
        uids=np.array(list(uids), dtype=object),
        prompts=np.array([p.tolist() for p in prompts], dtype=object),
        responses=np.array([r.tolist() for r in responses], dtype=object),
        advantages=(advantages * mask).sum(-1).numpy() / np.maximum(mask.sum(-1).numpy(), 1),
        scores=scores.numpy(),
        labels=info.labels if info is not None else np.zeros(0),
        score_delta=info.score_delta if info is not None else np.zeros(0),
    )
    return path


def dump_advantages(trainer, batch, directory: str) -> str:
    """The v1 trainer: ``batch`` is a ``KVBatchMeta`` whose advantages are computed."""
    from verl_mupo.glue.storage import read_fields

    data = read_fields(batch, ["uid", "prompts", "responses", "response_mask", "advantages", "rm_scores"],
                       as_rows=["prompts", "responses"])
    return write_dump(trainer, directory, batch.keys, data["uid"], data["prompts"], data["responses"],
                      data["response_mask"], data["advantages"], data["rm_scores"].sum(-1))


def dump_dataproto(trainer, data, directory: str) -> str:
    """The legacy trainer: ``data`` is the ``DataProto`` that ``compute_advantage`` returned (prompts
    left-padded, responses right-padded, exactly as the v1 dump's rows once padding is stripped)."""
    b = data.batch
    attn = b["attention_mask"].bool()
    prompt_len = b["prompts"].shape[1]
    prompts = [p[m] for p, m in zip(b["prompts"], attn[:, :prompt_len])]
    responses = [r[m] for r, m in zip(b["responses"], b["response_mask"].bool())]
    uids = data.non_tensor_batch["uid"]
    return write_dump(trainer, directory, range(len(uids)), uids, prompts, responses, b["response_mask"],
                      b["advantages"], b["token_level_scores"].sum(-1))


def wrap_dump(compute_advantage):
    """The v1 ``_compute_advantage`` followed by :func:`dump_advantages` when dumping is on."""

    @functools.wraps(compute_advantage)
    def _compute_advantage(self, batch, metrics):
        out = compute_advantage(self, batch, metrics)
        directory = dump_directory()
        if directory:
            dump_advantages(self, out, directory)
        return out

    return _compute_advantage
