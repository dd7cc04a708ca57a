"""verl 0.9.1's 3-D (mRoPE) position ids when every sequence of a batch has the same length, and the
plugin's fix (``verl_mupo.glue.mrope_fix``).

Each test builds the position ids the way TransferQueue rebuilds them (``as_nested_tensor`` of the
per-sample ``(4, L)`` rows) or through a real TransferQueue, runs verl's own
``maybe_fix_3d_position_ids`` (wrapped by the plugin) and compares every row element by element with
the rows that went in. ``original_of`` gives the stock verl function, which the tests show to be
wrong: if a future verl fixes the bug, those assertions fail and the fix can be dropped."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

import verl  # noqa: F401  (loads the plugin)
from verl.utils import tensordict_utils as tu
from verl_mupo.glue.mrope_fix import normalize_3d_position_ids, ragged_along_rope_rows
from verl_mupo.glue.patching import is_patched, original_of


def rows_3d(lengths, seed=0):
    """Per-sample (4, L) position ids with distinct values (text row, then three mRoPE rows)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 1000, (4, n), generator=g) for n in lengths]


def as_tq_packs(rows):
    """What TransferQueue's storage manager does with a field of per-sample tensors."""
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def td_of(rows):
    return TensorDict({"position_ids": as_tq_packs(rows)}, batch_size=[len(rows)])


def assert_rows_equal(nested, rows):
    got = nested.unbind(0)
    assert len(got) == len(rows)
    for a, b in zip(got, rows):
        assert a.shape == b.shape and torch.equal(a, b)


def test_the_plugin_installed_the_fix_everywhere_verl_calls_it():
    import verl.workers.engine.base as engine_base
    import verl.workers.engine_workers as engine_workers
    import verl.workers.utils.padding as padding

    assert is_patched(tu.maybe_fix_3d_position_ids)
    assert engine_workers.maybe_fix_3d_position_ids is tu.maybe_fix_3d_position_ids
    assert engine_base.maybe_fix_3d_position_ids is tu.maybe_fix_3d_position_ids
    assert is_patched(padding.left_right_2_no_padding)


def test_equal_lengths_make_the_rope_rows_ragged():
    packed = as_tq_packs(rows_3d([5, 5, 5]))
    assert ragged_along_rope_rows(packed)
    assert packed.values().shape == (12, 5)
    assert not ragged_along_rope_rows(as_tq_packs(rows_3d([5, 7, 6])))


def test_three_equal_lengths_stock_verl_returns_wrong_rows_fixed_returns_the_right_ones():
    rows = rows_3d([5, 5, 5])
    stock = td_of(rows)
    try:
        original_of(tu.maybe_fix_3d_position_ids)(stock)
        wrong = [not torch.equal(a, b) for a, b in zip(stock["position_ids"].unbind(0), rows)]
        assert any(wrong), "stock verl returned the right rows: the bug is fixed upstream, drop the fix"
    except RuntimeError:
        pass  # some torch builds raise instead of returning wrong rows: a bug all the same
    fixed = td_of(rows)
    tu.maybe_fix_3d_position_ids(fixed)
    assert fixed["position_ids"]._ragged_idx == 2
    assert_rows_equal(fixed["position_ids"], rows)


def test_twenty_four_equal_lengths_stock_verl_crashes_in_chunking_fixed_chunks_right():
    rows = rows_3d([7] * 24, seed=1)
    stock = td_of(rows)
    original_of(tu.maybe_fix_3d_position_ids)(stock)
    with pytest.raises(RuntimeError):
        chunks = tu.chunk_tensordict(stock, 4)
        [c["position_ids"].unbind(0) for c in chunks]  # noqa: B018
    fixed = td_of(rows)
    tu.maybe_fix_3d_position_ids(fixed)
    chunks = tu.chunk_tensordict(fixed, 4)
    got = [r for c in chunks for r in c["position_ids"].unbind(0)]
    assert len(got) == 24 and all(torch.equal(a, b) for a, b in zip(got, rows))


@pytest.mark.parametrize("lengths", [[5, 7, 6], [9], [3, 3], [4] * 8])
def test_other_layouts_come_out_right(lengths):
    rows = rows_3d(lengths, seed=2)
    td = td_of(rows)
    tu.maybe_fix_3d_position_ids(td)
    assert_rows_equal(td["position_ids"], rows)


def test_tokens_ragged_tensor_is_left_to_verl():
    nested = tu.nested_tensor_from_tensor_list(rows_3d([5, 5]), ragged_idx=2)
    assert normalize_3d_position_ids(nested) is nested


def test_legacy_padding_path_equal_lengths():
    import verl.workers.utils.padding as padding

    b, length = 3, 6
    rows = rows_3d([length] * b, seed=3)
    data = TensorDict({
        "input_ids": torch.arange(b * length).reshape(b, length),
        "attention_mask": torch.ones(b, length, dtype=torch.long),
        "response_mask": torch.ones(b, 2, dtype=torch.long),
        "position_ids": torch.stack(rows),
    }, batch_size=[b])
    out = padding.left_right_2_no_padding(data)
    # the engines call maybe_fix_3d_position_ids next: even verl's stock one must then read the right rows
    original_of(tu.maybe_fix_3d_position_ids)(out)
    assert_rows_equal(out["position_ids"], rows)


@pytest.mark.parametrize("lengths", [[6, 6, 6], [6] * 24, [6, 8, 7]])
def test_through_a_real_transfer_queue(tq_cluster, lengths):
    tq = tq_cluster
    rows = rows_3d(lengths, seed=4)
    keys = [f"k{len(lengths)}_{i}_{lengths[0]}" for i in range(len(lengths))]
    fields = tu.list_of_dict_to_tensordict([{"position_ids": r} for r in rows])
    tq.kv_batch_put(keys=keys, partition_id="train", fields=fields)
    data = tq.kv_batch_get(keys=keys, partition_id="train", select_fields=["position_ids"])
    td = TensorDict({"position_ids": data["position_ids"]}, batch_size=[len(rows)])
    tu.maybe_fix_3d_position_ids(td)
    assert_rows_equal(td["position_ids"], rows)
    tq.kv_clear(keys=keys, partition_id="train")
