"""The public math API on awkward inputs: lengths that disagree, prompt ids of mixed kinds, beta and
epsilon out of range, integer / bool / float16 / bfloat16 values, empty batches, embeddings near
the float limits. Each case raised a confusing error or returned a silently wrong result before."""

import math

import numpy as np
import pytest
import torch

from verl_mupo import (
    MupoConfig,
    compute_mupo_advantages,
    constrained_partition,
    diversity_bonus,
    mean_pairwise_distance,
    run_group_stage,
)

IDX = np.repeat(np.array(["a", "b"], dtype=object), 6)
LAB = np.tile([0, 0, 0, 1, 1, 1], 2)
SCORES = np.array([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0])


def _emb(n=12, d=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


# --- lengths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: compute_mupo_advantages(SCORES[:11].astype(float), IDX, LAB), "index must have one entry per row"),
    (lambda: compute_mupo_advantages(SCORES.astype(float), IDX, LAB[:11]), "labels must have one entry per row"),
    (lambda: constrained_partition(_emb(), IDX[:11]), "index must have one entry per row"),
    (lambda: constrained_partition(_emb(), IDX, valid=np.ones(11, bool)), "valid must have one entry per row"),
    (lambda: diversity_bonus(_emb(), IDX, LAB, np.ones(11)), "correct must have one entry per row"),
    (lambda: run_group_stage(_emb(), IDX, np.ones(11), MupoConfig(num_groups=2), 0.3), "acc must have one entry per row"),
    (lambda: run_group_stage(_emb(), IDX[:10], np.ones(12), MupoConfig(num_groups=2), 0.3), "index must have one entry"),
])
def test_length_mismatches_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- prompt ids ------------------------------------------------------------------------------------

def test_mixed_kinds_of_prompt_ids_are_refused():
    """1 and "1" used to become one prompt: six rows normalised as one group."""
    idx = np.array([1, 1, 1, "1", "1", "1"], dtype=object)
    for call in (
        lambda: compute_mupo_advantages(np.array([1.0, 0, 1, 0, 0, 1]), idx, np.zeros(6, int)),
        lambda: constrained_partition(_emb(6), idx, 1, 3),
        lambda: diversity_bonus(_emb(6), idx, np.zeros(6, int), np.ones(6)),
        lambda: run_group_stage(_emb(6), idx, np.ones(6), MupoConfig(num_groups=1), 0.3),
    ):
        with pytest.raises(ValueError, match="mixes kinds of prompt ids"):
            call()


def test_one_kind_of_id_in_any_container_works_alike():
    scores = SCORES.astype(np.float32)
    want = compute_mupo_advantages(scores, IDX, LAB)
    ints = np.repeat([7, 9], 6)
    for idx in (ints, ints.astype(object), torch.from_numpy(ints), list(IDX), IDX.astype(str)):
        np.testing.assert_array_equal(compute_mupo_advantages(scores, idx, LAB), want)


# --- beta and epsilon ------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    ({"beta": math.nan}, "beta"), ({"beta": math.inf}, "beta"), ({"beta": -0.5}, "beta"), ({"beta": "1"}, "beta"),
    ({"epsilon": 0.0}, "epsilon"), ({"epsilon": -1e-6}, "epsilon"), ({"epsilon": math.nan}, "epsilon"),
    ({"epsilon": math.inf}, "epsilon"),
])
def test_beta_and_epsilon_must_be_finite_and_in_range(kw, match):
    with pytest.raises(ValueError, match=match):
        compute_mupo_advantages(SCORES.astype(float), IDX, LAB, **kw)


def test_beta_zero_means_no_load_balancing():
    lab = np.array([0] * 4 + [1] * 2)
    _, w = compute_mupo_advantages(np.array([1.0, 0, 1, 0, 1, 0]), np.zeros(6), lab, beta=0.0, return_weights=True)
    np.testing.assert_array_equal(w, np.ones(6))


# --- dtypes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, want", [
    (lambda s: torch.from_numpy(s), torch.float32),                    # int64 tensor
    (lambda s: torch.from_numpy(s).bool(), torch.float32),
    (lambda s: torch.from_numpy(s).half(), torch.float16),
    (lambda s: torch.from_numpy(s).bfloat16(), torch.bfloat16),
    (lambda s: s.astype(np.int32), np.float32),
    (lambda s: s.astype(bool), np.float32),
    (lambda s: s.astype(np.float16), np.float16),
    (lambda s: s.astype(np.float64), np.float64),
])
def test_advantages_are_computed_in_float32_and_returned_in_the_inputs_kind(make, want):
    scores = make(SCORES)
    adv = compute_mupo_advantages(scores, IDX, LAB)
    assert type(adv) is type(scores) and adv.dtype == want
    ref = compute_mupo_advantages(SCORES.astype(np.float32), IDX, LAB)
    got = adv.float().numpy() if isinstance(adv, torch.Tensor) else adv.astype(np.float32)
    tol = 1e-2 if want in (torch.float16, torch.bfloat16, np.float16) else 1e-6
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("make", [
    lambda x: torch.from_numpy(x).bfloat16(), lambda x: torch.from_numpy(x).half(), lambda x: x.astype(np.float16),
    lambda x: np.round(x * 100).astype(np.int64), lambda x: torch.from_numpy(np.round(x * 100).astype(np.int32)),
])
def test_partition_and_diversity_accept_low_precision_and_integer_embeddings(make):
    x = _emb()
    e = make(x)
    lab = constrained_partition(e, IDX, 2, 3)
    assert type(lab) is type(e) and lab.dtype in (torch.int64, np.int64)
    np.testing.assert_array_equal(np.asarray(lab), constrained_partition(np.asarray(torch.as_tensor(e).float()), IDX, 2, 3))
    d = diversity_bonus(e, IDX, LAB, np.ones(12))
    assert type(d) is type(e)
    floating = e.dtype.is_floating_point if isinstance(e, torch.Tensor) else np.issubdtype(e.dtype, np.floating)
    assert d.dtype == (e.dtype if floating else (torch.float32 if isinstance(e, torch.Tensor) else np.float32))
    ref = diversity_bonus(np.asarray(torch.as_tensor(e).float()), IDX, LAB, np.ones(12))
    np.testing.assert_allclose(np.asarray(torch.as_tensor(d).float()), ref, atol=1e-2)


def test_labels_stay_integers_and_must_be_integers():
    with pytest.raises(ValueError, match="labels must be integers"):
        compute_mupo_advantages(SCORES.astype(float), IDX, LAB + 0.5)
    with pytest.raises(ValueError, match=">= -1"):
        compute_mupo_advantages(SCORES.astype(float), IDX, LAB - 2)
    adv = compute_mupo_advantages(SCORES.astype(float), IDX, LAB.astype(float))  # 0.0, 1.0 are integers
    np.testing.assert_array_equal(adv, compute_mupo_advantages(SCORES.astype(float), IDX, LAB))


# --- empty batches ---------------------------------------------------------------------------------

def test_an_empty_batch_gives_an_empty_result():
    empty = np.array([], dtype=object)
    adv = compute_mupo_advantages(torch.zeros(0), empty, np.zeros(0, int))
    assert isinstance(adv, torch.Tensor) and adv.shape == (0,)
    assert compute_mupo_advantages(np.zeros(0), [], []).shape == (0,)
    lab = constrained_partition(torch.zeros(0, 4), empty, 3, 3)
    assert isinstance(lab, torch.Tensor) and lab.shape == (0,)
    assert diversity_bonus(np.zeros((0, 4)), empty, np.zeros(0, int), np.zeros(0)).shape == (0,)
    assert mean_pairwise_distance(np.zeros((0, 4)), empty).shape == (0,)
    res = run_group_stage(np.zeros((0, 4), np.float32), empty, np.zeros(0), MupoConfig(), 0.3)
    assert res.labels.shape == res.score_delta.shape == (0,)
    assert all(math.isfinite(v) for v in res.metrics.values())


# --- embeddings near the float limits -------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e38, 1e-30])
def test_huge_and_tiny_embedding_rows_normalise_like_ordinary_ones(scale):
    """Rows scaled by 1e38 used to overflow to inf norms and turn into zeros (no bonus, one cluster)."""
    x = _emb()
    big = (x.astype(np.float64) * scale).astype(np.float32)
    assert np.isfinite(big).all()
    np.testing.assert_array_equal(constrained_partition(big, IDX, 2, 3), constrained_partition(x, IDX, 2, 3))
    np.testing.assert_allclose(diversity_bonus(big, IDX, LAB, np.ones(12)), diversity_bonus(x, IDX, LAB, np.ones(12)),
                               atol=1e-5)
    np.testing.assert_allclose(mean_pairwise_distance(big, IDX), mean_pairwise_distance(x, IDX), atol=1e-5)


def test_string_scores_and_ragged_inputs_are_refused():
    with pytest.raises(ValueError, match="scores must be numbers"):
        compute_mupo_advantages(np.array(["1", "0"]), ["a", "a"], [0, 0])
    with pytest.raises(ValueError, match="2-D"):
        constrained_partition(np.ones(6), np.zeros(6))
