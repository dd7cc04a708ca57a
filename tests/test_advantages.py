"""Grouped advantages and load-balancing weights; K=1 against verl's own grpo, bit for bit."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from verl_mupo import compute_mupo_advantages, load_balance_weights


def test_hand_worked_two_groups():
    # prompt q: group 0 = scores [1, 0, 1] (size 3), group 1 = [0, 0, 1, 1, 1] (size 5)
    scores = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    idx = np.array(["q"] * 8, dtype=object)
    adv, w = compute_mupo_advantages(scores, idx, labels, beta=1.0, epsilon=1e-12, return_weights=True)
    # weights: mean size 4 -> 4/3 and 4/5
    np.testing.assert_allclose(w.numpy(), [4 / 3] * 3 + [4 / 5] * 5, rtol=1e-6)
    # group 0: mean 2/3, unbiased std sqrt(1/3)
    m0, s0 = 2 / 3, np.sqrt(1 / 3)
    # group 1: mean 3/5, unbiased std sqrt(0.3)
    m1, s1 = 0.6, np.sqrt(0.3)
    expected = [(1 - m0) / s0 * 4 / 3, (0 - m0) / s0 * 4 / 3, (1 - m0) / s0 * 4 / 3]
    expected += [(v - m1) / s1 * 0.8 for v in [0, 0, 1, 1, 1]]
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-5)


def test_beta_zero_and_dr_grpo():
    scores = np.array([1.0, 0.0, 1.0, 3.0, 1.0, 2.0], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    adv = compute_mupo_advantages(scores, np.zeros(6), labels, beta=0.0, norm_adv_by_std=False)
    assert isinstance(adv, np.ndarray)
    np.testing.assert_allclose(adv, [1 / 3, -2 / 3, 1 / 3, 1, -1, 0], rtol=1e-6)


def test_weights_shrink_for_large_groups():
    w = load_balance_weights(np.zeros(15), np.array([0] * 9 + [1] * 3 + [2] * 3), beta=2.0)
    assert w[0] == pytest.approx((5 / 9) ** 2) and w[-1] == pytest.approx((5 / 3) ** 2)


def test_padding_rows_form_their_own_group():
    scores = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    labels = np.array([0, 0, 0, -1, -1])
    idx = np.array(["a", "a", "a", "pad0", "pad1"], dtype=object)
    adv = compute_mupo_advantages(scores, idx, labels)
    assert torch.isfinite(adv).all() and adv[3] == 0 and adv[4] == 0


def test_nan_rewards_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        compute_mupo_advantages(torch.tensor([1.0, float("nan"), 0.0]), np.zeros(3), np.zeros(3))


def _verl_grpo(scores, idx, norm):
    tlr = torch.zeros(len(scores), 4)
    tlr[:, -1] = scores
    mask = torch.ones(len(scores), 4)
    adv, _ = compute_grpo_outcome_advantage(tlr, mask, idx, norm_adv_by_std_in_grpo=norm)
    return adv[:, 0]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=8),
    kind=st.sampled_from(["binary", "composite", "gauss", "tiny", "constant"]),
    norm=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_one_group_equals_verl_grpo_bitwise_except_constant_groups(sizes, kind, norm, seed):
    """K=1 (lambda=0) is verl's grpo bit for bit on every row of a group whose scores differ. Where
    they differ, and why: a group whose scores are all equal gets exactly 0 here; verl gives a lone
    response its raw score (mean 0, std 1) and a group of equal scores that float32 cannot represent
    exactly (0.6, 0.7...) the ulp error of its mean divided by eps=1e-6, up to ~0.11."""
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    if kind == "binary":
        scores = torch.randint(0, 2, (n,), generator=g).float()
    elif kind == "composite":  # 0.9 acc + 0.1 format, the common verl reward shape
        scores = 0.9 * torch.randint(0, 2, (n,), generator=g).float() + 0.1 * torch.randint(0, 2, (n,), generator=g).float()
    elif kind == "gauss":
        scores = torch.randn(n, generator=g) * 3
    elif kind == "tiny":
        scores = torch.randn(n, generator=g) * 1e-4
    else:  # every prompt constant, at a value float32 cannot hold exactly
        scores = torch.cat([torch.full((s,), v) for s, v in zip(sizes, [0.6, 0.1, 0.7, 0.3, 1.0, 0.0, 0.2, 0.9])])
    idx = np.array([f"u{i}" for i, s in enumerate(sizes) for _ in range(s)], dtype=object)
    perm = np.random.default_rng(seed).permutation(n)  # rows of a prompt need not be adjacent
    scores, idx = scores[perm].contiguous(), idx[perm]
    ours = compute_mupo_advantages(scores.clone(), idx, np.zeros(n, dtype=np.int64), norm_adv_by_std=norm)
    theirs = _verl_grpo(scores.clone(), idx, norm)
    constant = np.array([len(set(scores[idx == u].tolist())) == 1 for u in idx])
    c = torch.from_numpy(constant)
    assert torch.equal(ours[~c], theirs[~c])
    assert torch.all(ours[c] == 0)
    alone = torch.from_numpy(np.array([(idx == u).sum() == 1 for u in idx]))
    # verl's rounding noise in equal groups: measured up to 0.106 (eleven to sixteen rewards of 0.7)
    assert torch.all(theirs[c & ~alone].abs() < 0.15)


def test_equal_rewards_give_exact_zeros_where_verl_gives_noise():
    scores = torch.full((9,), 0.6)
    idx = np.array(["q"] * 9, dtype=object)
    theirs = _verl_grpo(scores.clone(), idx, True)
    assert theirs.abs().max() > 0.01  # today's bug, in verl's own grpo: nine rewards of 0.6
    ours = compute_mupo_advantages(scores, idx, np.zeros(9, dtype=np.int64))
    assert torch.equal(ours, torch.zeros(9))
    # the same inside one group of a multi-group prompt, next to a group that does vary
    scores = torch.tensor([0.6] * 4 + [1.0, 0.1, 1.0])
    adv = compute_mupo_advantages(scores, np.zeros(7), np.array([0] * 4 + [1] * 3))
    assert torch.all(adv[:4] == 0) and torch.all(adv[4:] != 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 4))
def test_finite_and_permutation_equivariant(seed, k):
    rng = np.random.default_rng(seed)
    n = 15
    idx = np.repeat(np.arange(6), n).astype(object)
    labels = np.tile(np.repeat(np.arange(k), n // k + 1)[:n], 6)
    scores = torch.from_numpy(rng.integers(0, 2, len(idx)).astype(np.float32))
    adv = compute_mupo_advantages(scores, idx, labels)
    assert torch.isfinite(adv).all()
    perm = rng.permutation(len(idx))
    adv_p = compute_mupo_advantages(scores[perm], idx[perm], labels[perm])
    assert torch.equal(adv_p, adv[perm])


# ---- advantages that blow up are stopped, naming the setting


def test_weights_that_overflow_name_beta():
    """beta=1e308 made every advantage inf without an error (the weights' ** overflowed)."""
    from verl_mupo.advantages import load_balance_weights

    labels = np.array([0] * 3 + [1] * 3 + [2] * 9)
    with pytest.raises(ValueError, match=r"beta=1e\+308 \(algorithm\.mupo\.beta\)"):
        load_balance_weights(np.zeros(15, dtype=int), labels, beta=1e308)
    scores = np.array([1, 0, 0] * 2 + [1] + [0] * 8, dtype=np.float32)
    with pytest.raises(ValueError, match=r"algorithm\.mupo\.beta"):
        compute_mupo_advantages(scores, np.zeros(15, dtype=int), labels, beta=1e308)


def test_advantages_that_overflow_float32_name_beta():
    """Weights finite in float64 (3**100 = 5e47) but past float32's 3.4e38: the advantages are checked too."""
    labels = np.array([0] * 2 + [1] * 16)  # n_p / K / n_pk = 9 / 2 = 4.5 for the small group
    scores = np.array([1, 0] + [1, 0] * 8, dtype=np.float32)
    with pytest.raises(ValueError, match=r"advantages are NaN or inf, produced by beta=100.0 \(algorithm\.mupo\.beta"):
        compute_mupo_advantages(scores, np.zeros(18, dtype=int), labels, beta=100.0)


def test_largest_advantage_at_the_range_end_of_beta_is_the_documented_one():
    """docs/algorithm.md section 6: with n=15, K=3, G_min=3 (sizes 3, 3, 9) max |A| is 1.92 at beta=1,
    8.9 at beta=4: weight (5/3)**beta times (G_min - 1) / sqrt(G_min)."""
    labels = np.array([0] * 3 + [1] * 3 + [2] * 9)
    scores = np.array([1, 0, 0] * 2 + [1] + [0] * 8, dtype=np.float64)
    for beta, expected in ((1.0, 1.9245), (4.0, 8.9097)):
        adv = compute_mupo_advantages(scores, np.zeros(15, dtype=int), labels, beta=beta)
        assert abs(np.abs(adv).max() - expected) < 1e-3
        assert math.isclose((5 / 3) ** beta * 2 / math.sqrt(3), np.abs(adv[:6]).max(), rel_tol=1e-5)  # eps 1e-6
