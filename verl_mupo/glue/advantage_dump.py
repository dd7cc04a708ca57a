"""Debugging dump of each step's advantages: ``VERL_MUPO_DUMP_ADVANTAGES=<dir>``.

A small wrapper outside the trainer hook (installed around it by
:func:`verl_mupo.glue.trainer_hook.patch_trainer`); when the variable is set, after every
``_compute_advantage`` it writes ``<dir>/step_<N>.npz`` with the rows' keys, uids, prompt and
response tokens, the mean advantage over each response's tokens, the summed score, and MUPO's labels
and reward change (empty in runs without MUPO). The end-to-end K=1-equals-GRPO test reads it.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from verl_mupo.glue.storage import read_fields

__all__ = ["DUMP_ENV", "dump_advantages", "wrap_dump"]

DUMP_ENV = "VERL_MUPO_DUMP_ADVANTAGES"


def dump_advantages(trainer, batch, directory: str) -> str:
    """Write ``<directory>/step_<global_steps>.npz`` for ``batch`` (a ``KVBatchMeta`` whose
    advantages are computed); returns the path."""
    from verl_mupo.glue.trainer_hook import LAST_INFO_ATTR

    data = read_fields(batch, ["uid", "prompts", "responses", "response_mask", "advantages", "rm_scores"],
                       as_rows=["prompts", "responses"])
    info = getattr(trainer, LAST_INFO_ATTR, None)
    mask = data["response_mask"].float()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"step_{int(trainer.global_steps)}.npz")
    np.savez(
        path,
        keys=np.array(batch.keys, dtype=object),
        uids=np.array(data["uid"], dtype=object),
        prompts=np.array([p.tolist() for p in data["prompts"]], dtype=object),
        responses=np.array([r.tolist() for r in data["responses"]], dtype=object),
        advantages=(data["advantages"] * mask).sum(-1).numpy() / np.maximum(mask.sum(-1).numpy(), 1),
        scores=data["rm_scores"].sum(-1).numpy(),
        labels=info.labels if info is not None else np.zeros(0),
        score_delta=info.score_delta if info is not None else np.zeros(0),
    )
    return path


def wrap_dump(compute_advantage):
    """``compute_advantage`` followed by :func:`dump_advantages` when ``VERL_MUPO_DUMP_ADVANTAGES`` is set."""

    @functools.wraps(compute_advantage)
    def _compute_advantage(self, batch, metrics):
        out = compute_advantage(self, batch, metrics)
        directory = os.environ.get(DUMP_ENV)
        if directory:
            dump_advantages(self, out, directory)
        return out

    return _compute_advantage
