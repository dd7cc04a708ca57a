"""Diversity bonus, pairwise distance, lambda schedules, group stage composition."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_mupo import MupoConfig, diversity_bonus, diversity_weight, mean_pairwise_distance, run_group_stage


def test_hand_worked_bonus():
    # one prompt: group 0 = {e1, e1}, group 1 = {e2, (e1+e2)/sqrt2}
    s = 1 / math.sqrt(2)
    x = np.array([[1, 0], [1, 0], [0, 1], [s, s]])
    labels = np.array([0, 0, 1, 1])
    correct = np.array([1, 0, 1, 1])
    d = diversity_bonus(x, np.zeros(4), labels, correct)
    # row 0: mean(1 - 0, 1 - s); row 1 not correct; rows 2, 3: distance to {e1, e1}
    np.testing.assert_allclose(d, [(1 + (1 - s)) / 2, 0, 1, 1 - s], rtol=1e-6)


def test_bonus_is_zero_with_one_group_or_other_prompt():
    x = np.random.default_rng(0).standard_normal((6, 3))
    idx = np.array([0, 0, 0, 1, 1, 1])
    d = diversity_bonus(torch.from_numpy(x), idx, np.array([0, 0, 0, 0, 0, 0]), np.ones(6))
    assert isinstance(d, torch.Tensor) and torch.all(d == 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_bonus_range_and_gate(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, 8))
    idx = np.repeat([0, 1], 15)
    labels = np.tile(np.repeat([0, 1, 2], 5), 2)
    correct = rng.integers(0, 2, 30)
    d = diversity_bonus(x, idx, labels, correct)
    assert np.all((d >= 0) & (d <= 2)) and np.all(d[correct == 0] == 0)
    # brute force
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i in np.nonzero(correct)[0]:
        others = [j for j in range(30) if idx[j] == idx[i] and labels[j] != labels[i]]
        assert d[i] == pytest.approx(np.mean([1 - xn[i] @ xn[j] for j in others]), rel=1e-5)


def test_mean_pairwise_distance_collapse():
    same = np.tile([[1.0, 0.0]], (5, 1))
    spread = np.array([[1.0, 0.0], [-1.0, 0.0]])
    out = mean_pairwise_distance(np.vstack([same, spread]), np.array([0] * 5 + [1] * 2))
    np.testing.assert_allclose(out, [0.0, 2.0], atol=1e-12)


def test_cosine_schedule_values():
    assert diversity_weight(0, 100) == pytest.approx(0.4)
    assert diversity_weight(50, 100) == pytest.approx(0.25)
    assert diversity_weight(100, 100) == pytest.approx(0.1)
    assert diversity_weight(200, 100) == pytest.approx(0.1)
    vals = [diversity_weight(t, 10) for t in range(11)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


def test_exponential_and_constant_schedules():
    assert diversity_weight(154, 1000, schedule="exponential", decay_rate=9e-3) == pytest.approx(0.4 * math.exp(-1.386), rel=1e-3)
    assert diversity_weight(100, 100, schedule="exponential") == pytest.approx(0.1)
    assert diversity_weight(7, 10, schedule="constant") == 0.4
    with pytest.raises(ValueError, match="lambda_schedule"):
        diversity_weight(0, 10, schedule="linear")


def _stage_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((18, 6)).astype(np.float32)
    idx = np.repeat(np.array(["a", "b"], dtype=object), 9)
    acc = rng.integers(0, 2, 18).astype(float)
    return x, idx, acc


def test_group_stage_convex_delta_matches_formula():
    x, idx, acc = _stage_inputs()
    cfg = MupoConfig(num_groups=3, min_group_size=3)
    res = run_group_stage(x, idx, acc, cfg, lam=0.3)
    d = diversity_bonus(x, idx, res.labels, acc)
    np.testing.assert_allclose(res.diversity, 2.0 * d, rtol=1e-6)
    np.testing.assert_allclose(res.score_delta, 0.3 * (2.0 * d - acc), rtol=1e-5, atol=1e-7)
    assert res.metrics["mupo/lambda"] == 0.3 and res.metrics["mupo/group_size_min"] >= 3


def test_group_stage_additive_and_k1_is_zero_delta():
    x, idx, acc = _stage_inputs()
    add = run_group_stage(x, idx, acc, MupoConfig(reward_composition="additive"), lam=0.3)
    np.testing.assert_allclose(add.score_delta, 0.3 * add.diversity, rtol=1e-6)
    k1 = run_group_stage(x, idx, acc, MupoConfig(num_groups=1), lam=0.4)
    assert np.all(k1.score_delta == 0) and np.all(k1.labels == 0) and np.all(k1.weights == 1)


def test_group_stage_refuses_non_binary_accuracy():
    x, idx, acc = _stage_inputs()
    acc[0] = 0.9
    with pytest.raises(ValueError, match="binary accuracy"):
        run_group_stage(x, idx, acc, MupoConfig(), lam=0.3)


def test_an_all_zero_embedding_row_is_refused_as_the_partition_refuses_it():
    """diversity_bonus returned 1.0 for a zero row while constrained_partition refused it: one check now."""
    from verl_mupo import constrained_partition

    emb = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    index, labels, correct = [0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]
    with pytest.raises(ValueError, match=r"embedding row\(s\) \[1\] are all zeros") as div_err:
        diversity_bonus(emb, index, labels, correct)
    with pytest.raises(ValueError, match=r"embedding row\(s\) \[1\] are all zeros") as part_err:
        constrained_partition(emb, index, 2, 2)
    assert str(div_err.value) == str(part_err.value)
    # a zero row left out of clustering (label -1, verl's padding) is nobody's neighbour: no error
    out = diversity_bonus(emb, index, [0, -1, 1, 1], correct)
    assert out[1] == 0 and out[0] > 0


def _stage_batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 4)), np.repeat([0, 1], 6), np.tile([1, 1, 0, 1, 0, 1], 2)


def test_group_stage_outputs_that_blow_up_name_the_setting():
    """diversity_scale=1e300 (or lambda 1e300) used to pass the group stage and stop in the estimator
    with a message that blamed the reward function or the KL penalty."""
    emb, index, acc = _stage_batch()
    ok = MupoConfig(num_groups=2, min_group_size=2)
    assert np.isfinite(run_group_stage(emb, index, acc, ok, 0.4).score_delta).all()
    blown = MupoConfig(num_groups=2, min_group_size=2)
    object.__setattr__(blown, "diversity_scale", 1e300)  # past MupoConfig's own range check
    with pytest.raises(ValueError, match=r"diversity terms are NaN or inf, produced by algorithm\.mupo\.diversity_scale=1e\+300"):
        run_group_stage(emb, index, acc, blown, 0.4)
    for composition in ("convex", "additive"):
        cfg = MupoConfig(num_groups=2, min_group_size=2, reward_composition=composition)
        with pytest.raises(ValueError, match=r"reward changes .* produced by lambda=1e\+300 \(algorithm\.mupo\.lambda_max"):
            run_group_stage(emb, index, acc, cfg, 1e300)
    huge_beta = MupoConfig(num_groups=2, min_group_size=2)
    object.__setattr__(huge_beta, "beta", 1e308)
    with pytest.raises(ValueError, match=r"algorithm\.mupo\.beta"):
        run_group_stage(emb, index, acc, huge_beta, 0.4)
