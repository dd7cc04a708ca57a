"""The public math API on awkward inputs: lengths that disagree, prompt ids of mixed kinds, beta and
epsilon out of range, integer / bool / float16 / bfloat16 values, empty batches, embeddings near
the float limits. Each case raised a confusing error or returned a silently wrong result before."""

import math

import numpy as np
import pytest
import torch

from verl_mupo import (
    ConfigError,
    MupoConfig,
    compute_mupo_advantages,
    constrained_partition,
    diversity_bonus,
    diversity_weight,
    load_balance_weights,
    mean_pairwise_distance,
    partition_inertia,
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


# --- review fixes: lists of mixed kinds, one label check, diversity_weight arguments, seed, flags ---

MIXED_LISTS = {
    "int and str": [1, 1, 1, "1", "1", "1"],
    "bool and int": [True] * 3 + [1] * 3,
    "bytes and str": [b"a"] * 3 + ["a"] * 3,
    "int and float": [1] * 3 + [2.0] * 3,
}


@pytest.mark.parametrize("idx", list(MIXED_LISTS.values()), ids=list(MIXED_LISTS))
@pytest.mark.parametrize("container", [list, tuple])
def test_python_lists_of_mixed_kinds_of_prompt_ids_are_refused(idx, container):
    """A list went through np.asarray first, which turned [1, "1"] into the strings "1", "1" (and
    [True, 1] into 1, 1): six rows became one prompt, silently, with the 6-row one-group values."""
    idx = container(idx)
    for call in (
        lambda: compute_mupo_advantages(np.array([1.0, 0, 1, 0, 0, 1]), idx, np.zeros(6, int)),
        lambda: load_balance_weights(idx, np.zeros(6, int)),
        lambda: constrained_partition(_emb(6), idx, 1, 3),
        lambda: diversity_bonus(_emb(6), idx, np.array([0, 0, 0, 1, 1, 1]), np.ones(6)),
        lambda: mean_pairwise_distance(_emb(6), idx),
        lambda: run_group_stage(_emb(6), idx, np.ones(6), MupoConfig(num_groups=1), 0.3),
    ):
        with pytest.raises(ValueError, match="mixes kinds of prompt ids"):
            call()


def test_twelve_rows_of_two_kinds_are_not_clustered_as_one_prompt():
    idx = [1] * 6 + ["1"] * 6
    with pytest.raises(ValueError, match=r"mixes kinds of prompt ids \(int, str\)"):
        constrained_partition(_emb(12), idx, 2, 3)
    with pytest.raises(ValueError, match="mixes kinds"):
        run_group_stage(_emb(12), idx, np.ones(12), MupoConfig(num_groups=2), 0.3)
    # one kind in a list is fine and equals the array: two prompts of 6, two groups each
    lab = constrained_partition(_emb(12), [1] * 6 + [2] * 6, 2, 3)
    np.testing.assert_array_equal(lab, constrained_partition(_emb(12), np.repeat([1, 2], 6), 2, 3))
    assert sorted(np.bincount(lab[:6])) == [3, 3] and sorted(np.bincount(lab[6:])) == [3, 3]


@pytest.mark.parametrize("labels, match", [(LAB * 0.7, "labels must be integers"), (LAB - 5, ">= -1"),
                                           (np.full(12, np.nan), "labels must be integers")])
def test_diversity_bonus_checks_labels_as_the_advantages_do(labels, match):
    """0.7 used to be truncated to 0 (a bonus of 0 everywhere) and -5 read as 'not clustered'."""
    with pytest.raises(ValueError, match=match):
        diversity_bonus(_emb(), IDX, labels, np.ones(12))
    with pytest.raises(ValueError, match=match):
        compute_mupo_advantages(SCORES.astype(float), IDX, labels)
    with pytest.raises(ValueError, match=match):
        partition_inertia(_emb(), IDX, labels)
    # integral floats are integers everywhere
    np.testing.assert_array_equal(diversity_bonus(_emb(), IDX, LAB.astype(float), np.ones(12)),
                                  diversity_bonus(_emb(), IDX, LAB, np.ones(12)))


@pytest.mark.parametrize("correct", [np.full(12, 0.5), np.full(12, np.nan), np.full(12, 2.0)])
def test_diversity_bonus_needs_binary_correctness(correct):
    """0.5 used to count silently as 'not correct'."""
    with pytest.raises(ValueError, match="binary accuracy"):
        diversity_bonus(_emb(), IDX, LAB, correct)


@pytest.mark.parametrize("args, match", [
    ((math.nan, 10), "step must be an integer"),
    ((-1, 10), "step must be >= 0"),
    ((2.5, 10), "step must be an integer"),
    (("3", 10), "step must be an integer"),
    ((3, -1), "total_steps must be >= 0"),
    ((3, None), "total_steps must be an integer"),
    ((5, 10, 0.1, 0.4), "lambda_min <= lambda_max"),                     # an increasing schedule
    ((5, 10, 0.4, 0.1, "exponential", -1.0), "lambda_decay_rate"),      # 59.4
    ((5, 10, math.inf, 0.1), "lambda_max .* must be finite"),
    ((5, 10, 0.4, math.nan), "lambda_min .* must be finite"),
    ((5, 10, "0.4", 0.1), "lambda_max .* must be a finite number"),
    ((5, 10, 0.4, -0.1), "lambda_min <= lambda_max"),
    ((5, 10, 0.4, 0.1, "linear"), "algorithm.mupo.lambda_schedule"),
    ((5, 10, 0.4, 0.0, "exponential"), "lambda_min > 0"),
])
def test_diversity_weight_refuses_bad_arguments(args, match):
    """These returned nan, 0.25 (increasing), 59.4, inf, or a TypeError."""
    with pytest.raises(ValueError, match=match):
        diversity_weight(*args)


def test_diversity_weight_and_mupo_config_share_their_checks():
    for kw in ({"lambda_max": 0.1, "lambda_min": 0.4}, {"lambda_decay_rate": -1.0},
               {"lambda_schedule": "exponential", "lambda_min": 0.0}):
        with pytest.raises(ConfigError):
            MupoConfig(**kw)
    assert diversity_weight(np.int64(5), 10.0, np.float32(0.4), 0.1) == pytest.approx(0.25)  # numpy numbers are fine


@pytest.mark.parametrize("seed, match", [(-1, "must be >= 0"), (None, "must be an integer"), (1.5, "must be an integer"),
                                         ("0", "must be an integer")])
def test_partition_seed_errors_name_the_seed(seed, match):
    with pytest.raises(ValueError, match=rf"seed \(algorithm.mupo.seed\) {match}"):
        constrained_partition(_emb(), IDX, 2, 3, seed=seed)


@pytest.mark.parametrize("flag", ["false", "True", 0, None])
def test_norm_adv_by_std_must_be_a_bool(flag):
    """The string "false" used to count as true."""
    with pytest.raises(ValueError, match="norm_adv_by_std"):
        compute_mupo_advantages(SCORES.astype(float), IDX, LAB, norm_adv_by_std=flag)
    compute_mupo_advantages(SCORES.astype(float), IDX, LAB, norm_adv_by_std=np.bool_(False))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dim", [5, 384, 1024, 4096])
def test_identical_responses_earn_exactly_zero_diversity(seed, dim):
    """Float32 rounding left 8e-08 .. 3e-07 for identical rows (seed 2, dim 384: 1.6e-07); a mean
    distance below ZERO_DISTANCE (1e-5) now counts as 0."""
    row = np.random.default_rng(seed).standard_normal((1, dim)).astype(np.float32)
    e = np.tile(row, (6, 1))
    lab = np.array([0, 0, 0, 1, 1, 1])
    d = diversity_bonus(e, np.zeros(6), lab, np.ones(6))
    assert d.dtype == np.float32 and np.all(d == 0)
    assert torch.all(diversity_bonus(torch.from_numpy(e).bfloat16(), np.zeros(6), lab, np.ones(6)) == 0)
    res = run_group_stage(e, np.zeros(6), np.ones(6), MupoConfig(num_groups=2), 0.4)
    assert np.all(res.diversity == 0)
    # distinct rows still earn their distance, to float32 precision
    e2 = e.copy()
    e2[3:] = np.random.default_rng(seed + 100).standard_normal((1, dim))
    u = e2 / np.linalg.norm(e2, axis=1, keepdims=True)
    np.testing.assert_allclose(diversity_bonus(e2, np.zeros(6), lab, np.ones(6)), 1 - (u[0] @ u[3]), rtol=1e-5)


def test_near_identical_responses_below_the_zero_distance_earn_nothing():
    from verl_mupo.diversity import ZERO_DISTANCE

    assert ZERO_DISTANCE == 1e-5
    lab = np.array([0, 0, 0, 1, 1, 1])
    for angle, want_zero in ((1e-3, True), (1e-2, False)):  # 1 - cos = angle^2 / 2: 5e-7 and 5e-5
        e = np.array([[1.0, 0.0]] * 3 + [[np.cos(angle), np.sin(angle)]] * 3)
        d = diversity_bonus(e, np.zeros(6), lab, np.ones(6))
        assert np.all(d == 0) if want_zero else np.allclose(d, 1 - np.cos(angle), rtol=1e-9)
