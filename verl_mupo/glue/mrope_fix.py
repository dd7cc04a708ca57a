"""A fix for verl 0.9.1's 3-D (mRoPE) position ids when every sequence of a batch has the same length.

The bug (verl 0.9.1 with TransferQueue 0.1.11, any torch, any device). Qwen2-VL/Qwen2.5-VL rows carry
``position_ids`` of shape ``(R, L)`` (``R = 4``: the text position and the three mRoPE axes).
TransferQueue's storage manager rebuilds a batch of them with
``torch.nested.as_nested_tensor(rows, layout=torch.jagged)``. torch makes the dimension whose sizes
differ the ragged one, so when the lengths ``L`` differ the result has ``values`` of shape
``(R, sum L)`` and ``_ragged_idx == 2``, as verl expects; when every ``L`` is equal torch makes the
*first* dimension ragged: ``values`` of shape ``(B * R, L)``, offsets in steps of ``R``,
``_ragged_idx == 1``. ``verl.utils.tensordict_utils.maybe_fix_3d_position_ids``, written for a
pickling quirk, then forces ``_ragged_idx = 2`` on that layout: the rows it returns are the wrong
slices (3 sequences: wrong position ids, silently) or the next chunking crashes (24 sequences:
``The size of tensor a (4) must match the size of tensor b (3)``). Equal lengths are common: every
response truncated at ``data.max_response_length`` with equal prompt lengths, or a batch of
identical prompts. ``verl.workers.utils.padding.left_right_2_no_padding`` (legacy trainer) builds
the same layout with the same call.

The fix: when ``position_ids`` is a 3-D jagged tensor whose values are ragged along the rope rows,
rebuild it from its rows with verl's own ``nested_tensor_from_tensor_list(rows, ragged_idx=2)``;
every other tensor goes to verl's function unchanged. Installed by the plugin in every process
(all devices) for the verl versions in :data:`BUGGY_VERL`; ``tests/test_mrope_fix.py`` shows the
stock function's wrong rows and the fixed ones, and ``docs/mrope_position_bug.md`` has the
reproduction. Upstream: verl issue #7899 reports the bug and PR #7901 proposes the same fix as
``verl.utils.tensordict_utils.normalize_3d_position_ids``.

When the fix stays out:

- verl has its own (``normalize_3d_position_ids`` in ``verl.utils.tensordict_utils``, as in #7901):
  nothing is wrapped, and a debug line says so;
- ``VERL_MUPO_MROPE_FIX=0`` (:data:`SWITCH`) in the environment of verl's processes;
- a verl outside :data:`BUGGY_VERL`.

The first time the fix changes a batch's position ids in a process it logs one warning.
"""

from __future__ import annotations

import functools
import logging
import os

import torch

from verl_mupo.glue.patching import wrap_once
from verl_mupo.glue.versions import KNOWN_VERL

logger = logging.getLogger(__name__)

__all__ = ["BUGGY_VERL", "MAX_ROPE_ROWS", "SWITCH", "UPSTREAM_FIX", "ragged_along_rope_rows",
           "normalize_3d_position_ids", "fix_applies", "patch_tensordict_utils", "patch_padding"]

#: verl versions known to have the bug (>= first, < second): every verl the plugin supports
#: (:data:`verl_mupo.glue.versions.KNOWN_VERL`, the one home of the range); a supported release
#: with verl's own fix is recognised by :data:`UPSTREAM_FIX` instead
BUGGY_VERL = KNOWN_VERL
# rows of a 3-D position id (text + 3 mRoPE axes in verl's Qwen2/2.5/3-VL code)
MAX_ROPE_ROWS = 4
#: environment variable: ``0`` leaves verl's position ids alone (default ``1``: fix on)
SWITCH = "VERL_MUPO_MROPE_FIX"
#: the function verl PR #7901 adds to ``verl.utils.tensordict_utils``; where it exists, verl fixes this itself
UPSTREAM_FIX = "normalize_3d_position_ids"
_logged = False


def ragged_along_rope_rows(position_ids: torch.Tensor) -> bool:
    """Whether a 3-D jagged ``position_ids`` (B, R, L) has its values ragged along the rope rows
    (``values`` of shape ``(B * R, L)``) instead of along the tokens (``(R, sum L)``).

    With ``values`` (V0, V1) and total offset T: tokens-ragged means V1 == T with V0 <= R;
    rows-ragged means V0 == T. For B == 1 both readings give the same single row, so the tokens
    reading wins."""
    if not (getattr(position_ids, "is_nested", False) and position_ids.dim() == 3):
        return False
    values, offsets = position_ids.values(), position_ids.offsets()
    if values.dim() != 2:
        return False
    total = int(offsets[-1])
    if values.shape[1] == total and values.shape[0] <= MAX_ROPE_ROWS:
        return False
    return values.shape[0] == total


def normalize_3d_position_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """``position_ids`` with its values ragged along the tokens (``_ragged_idx == 2``).

    A rows-ragged tensor (see :func:`ragged_along_rope_rows`) is rebuilt from its ``(R, L)`` rows;
    any other tensor is returned as it is (verl's own function then sets ``_ragged_idx``).

    Raises:
        ValueError: rows-ragged values whose offsets do not step by one constant row count.
    """
    if not ragged_along_rope_rows(position_ids):
        return position_ids
    from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

    values, offsets = position_ids.values(), position_ids.offsets().tolist()
    steps = {b - a for a, b in zip(offsets[:-1], offsets[1:])}
    if len(steps) != 1:
        raise ValueError(f"position_ids: rope rows per sequence differ ({sorted(steps)}); cannot rebuild 3-D positions")
    rows = [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return nested_tensor_from_tensor_list(rows, ragged_idx=2)


def fix_applies(tensordict_utils=None) -> bool:
    """Whether the fix is installed here: a verl in :data:`BUGGY_VERL` without its own
    :data:`UPSTREAM_FIX` in ``tensordict_utils`` (default: ``verl.utils.tensordict_utils``), and
    :data:`SWITCH` not ``0``.

    Raises:
        ValueError: :data:`SWITCH` is set to something other than ``0`` or ``1``.
    """
    from verl_mupo.glue.versions import installed_verl_version

    switch = os.environ.get(SWITCH, "1").strip()
    if switch not in ("0", "1"):
        raise ValueError(f"{SWITCH}={switch!r}: set 0 (leave verl's mRoPE position ids alone) or 1 (fix them, default)")
    if switch == "0":
        return False
    lo, hi = BUGGY_VERL
    if not lo <= installed_verl_version() < hi:
        return False
    if tensordict_utils is None:
        import verl.utils.tensordict_utils as tensordict_utils
    if hasattr(tensordict_utils, UPSTREAM_FIX):
        logger.debug("verl_mupo: verl has its own %s (verl PR #7901); the plugin's mRoPE fix stays out", UPSTREAM_FIX)
        return False
    return True


def _fix_in(data) -> None:
    global _logged
    if "position_ids" in data.keys():
        fixed = normalize_3d_position_ids(data["position_ids"])
        if fixed is not data["position_ids"]:
            data["position_ids"] = fixed
            if not _logged:
                _logged = True
                logger.warning("verl_mupo: rebuilt 3-D mRoPE position ids of an equal-length batch (verl 0.9.1 bug, "
                               "verl issue #7899; docs/mrope_position_bug.md). Set %s=0 to switch the fix off.", SWITCH)


def patch_tensordict_utils(module) -> None:
    """Wrap ``maybe_fix_3d_position_ids`` (and its copies imported by verl's engines)."""
    if not fix_applies(module):
        return

    def make(original):
        @functools.wraps(original)
        def maybe_fix_3d_position_ids(data):
            _fix_in(data)
            return original(data)

        return maybe_fix_3d_position_ids

    if wrap_once(module, "maybe_fix_3d_position_ids", make,
                 rebind_in=("verl.workers.engine_workers", "verl.workers.engine.base",
                            "verl.workers.engine_workers_tinker")):
        logger.debug("verl_mupo: mRoPE position-id fix installed in %s", module.__name__)


def patch_padding(module) -> None:
    """Wrap ``left_right_2_no_padding`` (legacy trainer path), whose nested position ids have the
    same equal-length layout."""
    if not fix_applies():
        return

    def make(original):
        @functools.wraps(original)
        def left_right_2_no_padding(data):
            out = original(data)
            _fix_in(out)
            return out

        return left_right_2_no_padding

    # 0.9.1's legacy trainer imports it by name; verl's neo branch moved those imports to its data
    # plane modules (absent here: skipped)
    wrap_once(module, "left_right_2_no_padding", make,
              rebind_in=("verl.trainer.ppo.ray_trainer", "verl.trainer.ppo.data_plane",
                         "verl.experimental.neoproto.worker_bridge"))
