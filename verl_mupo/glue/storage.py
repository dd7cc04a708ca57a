"""The one adapter between verl_mupo and verl's batch storage (the v1 trainer's rollout data).

verl 0.9.1's v1 trainer passes ``_compute_advantage`` (and ``_validate``'s helpers) a
``KVBatchMeta``: row keys, a partition id and per-row tags, while the rows themselves sit in
TransferQueue. Every read verl_mupo makes of those rows goes through this module, so that when verl
changes the data plane only this file changes:

- verl PR #7415 (open) puts TransferQueue behind a pluggable rollout-data facade (a
  ``RolloutDataRef`` and one put/get API, Mooncake as a second backend): :func:`read_fields` is the
  one function to point at the facade;
- verl PR #7237 (open) moves ``compute_advantage`` from ``ray_trainer`` to ``trainer_utils``;
  verl_mupo never imports it (its estimator is reached through verl's registry), so nothing here
  changes for that one.

Public API (names stable; the validation-metrics hook uses them too):

- ``read_fields(batch, fields: list[str], as_rows: list[str] = ()) -> dict[str, Any]``: the named
  fields of the batch's rows, in row order; tensor fields as dense ``(B, ...)`` tensors (ragged ones
  right-padded with 0) or, for the fields in ``as_rows``, lists of per-row tensors; non-tensor fields
  as Python lists.
- ``padding_rows(batch) -> np.ndarray``: ``(B,)`` bool, True for the rows verl added to fill a
  batch (``is_padding`` tag).
- ``reward_extra_info(extra_fields_row) -> dict``: the reward manager's per-row extras
  (``acc``, ``format``...) from one row of the ``extra_fields`` field.
- ``dense(t, padding=0)``: a dense tensor from a nested (ragged) one.
- ``KNOWN_VERL``: the verl versions this adapter knows, ``(lowest, first unsupported)``; its home is
  :mod:`verl_mupo.glue.versions` (the plugin's version guard), re-exported here.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from verl_mupo.glue.versions import KNOWN_VERL, KNOWN_VERL_TEXT

__all__ = ["KNOWN_VERL", "KNOWN_VERL_TEXT", "read_fields", "padding_rows", "reward_extra_info", "dense"]



def dense(t, padding=0):
    """A dense ``(B, T)`` tensor from a storage field (nested when the row lengths differ, dense
    when they are equal)."""
    return t.to_padded_tensor(padding=padding) if getattr(t, "is_nested", False) else t


def read_fields(batch, fields: Sequence[str], as_rows: Sequence[str] = ()) -> dict[str, Any]:
    """The ``fields`` of the rows of ``batch`` (verl's ``KVBatchMeta``), in row order.

    Tensor fields come back dense (ragged ones right-padded with 0: pair them with a mask such as
    ``response_mask``), those named in ``as_rows`` as a list of per-row tensors of their own
    lengths; other fields (``uid``, ``extra_fields``...) as lists.

    Raises:
        RuntimeError: the storage lacks a field, naming the field and the verl versions this adapter
            knows.
    """
    import torch
    from verl.utils.transferqueue_utils import tq

    try:
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=list(fields))
    except KeyError as e:
        raise RuntimeError(f"verl_mupo could not read {list(fields)} from verl's batch storage ({e}); this "
                           f"adapter knows the storage of {KNOWN_VERL_TEXT}") from e
    out: dict[str, Any] = {}
    for name in fields:
        value = data[name]
        if isinstance(value, torch.Tensor):
            out[name] = list(value.unbind(0)) if name in as_rows else dense(value, 0)
        else:
            out[name] = list(value)
    return out


def padding_rows(batch) -> np.ndarray:
    """``(B,)`` bool: the rows verl's v1 trainer added to make the batch divisible (tag
    ``is_padding``); they are copies of row 0 with zero scores and mask and a fresh uid."""
    tags = list(batch.tags) if getattr(batch, "tags", None) else [{} for _ in batch.keys]
    return np.array([bool((t or {}).get("is_padding", False)) for t in tags], dtype=bool)


def reward_extra_info(extra_fields_row) -> dict:
    """The reward manager's ``reward_extra_info`` of one row of the ``extra_fields`` field (verl's
    streaming reward path writes it there); ``{}`` when absent."""
    if extra_fields_row is None:
        return {}
    info = extra_fields_row.get("reward_extra_info") if hasattr(extra_fields_row, "get") else None
    return dict(info) if info else {}
