"""Constrained clustering: constraints, exactness, determinism, equivariance, quality."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_mupo import constrained_partition, effective_num_groups, partition_inertia
from verl_mupo._arrays import group_rows
from verl_mupo.partition import _exact_assign


def _batch(rng, prompts, n, d=16):
    x = rng.standard_normal((prompts * n, d)).astype(np.float32)
    idx = np.repeat(np.array([f"p{i}" for i in range(prompts)], dtype=object), n)
    return x, idx


def test_three_obvious_strategies_are_found():
    # 9 responses in three tight bundles around orthogonal directions
    base = np.eye(3, 8)
    x = np.concatenate([base[k] + 0.01 * np.arange(3)[:, None] * np.eye(3, 8)[(k + 1) % 3] for k in range(3)])
    idx = np.array(["q"] * 9, dtype=object)
    lab = constrained_partition(x, idx, num_groups=3, min_group_size=3)
    assert [len(set(lab[3 * k : 3 * k + 3])) for k in range(3)] == [1, 1, 1]
    assert len(set(lab)) == 3


def test_min_group_size_forces_an_unnatural_split():
    # 5 points at one place, 1 far away: unconstrained 2-means would isolate the far point
    x = np.array([[1, 0]] * 5 + [[0, 1]], dtype=np.float64) + 1e-3 * np.arange(12).reshape(6, 2)
    lab = constrained_partition(x, np.zeros(6), num_groups=2, min_group_size=3)
    assert sorted(np.bincount(lab)) == [3, 3]


def test_exact_assignment_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(20):
        cost = rng.random((7, 2))
        lab = _exact_assign(cost, 2, 3)
        best = min(
            (sum(cost[i, a[i]] for i in range(7)), a)
            for a in itertools.product(range(2), repeat=7)
            if min(np.bincount(a, minlength=2)) >= 3
        )[0]
        assert np.bincount(lab, minlength=2).min() >= 3
        assert cost[np.arange(7), lab].sum() == pytest.approx(best)


def test_partition_is_optimal_on_small_problems():
    """Against exhaustive search of all labelings with groups >= G_min (n=8, K=2)."""
    rng = np.random.default_rng(2)
    worse = 0
    for trial in range(15):
        x = rng.standard_normal((8, 5))
        idx = np.zeros(8)
        ours = partition_inertia(x, idx, constrained_partition(x, idx, 2, 3, seed=trial))
        best = min(
            partition_inertia(x, idx, np.array(a))
            for a in itertools.product(range(2), repeat=8)
            if a[0] == 0 and min(np.bincount(a, minlength=2)) >= 3
        )
        assert ours >= best - 1e-9
        worse += ours > best + 1e-9
    assert worse <= 1  # local search finds the global optimum on (nearly) all of these


@settings(max_examples=40, deadline=None)
@given(
    prompts=st.integers(1, 6),
    n=st.integers(1, 17),
    k=st.integers(1, 4),
    gmin=st.integers(2, 4),
    seed=st.integers(0, 10_000),
)
def test_every_group_has_at_least_gmin_members(prompts, n, k, gmin, seed):
    x, idx = _batch(np.random.default_rng(seed), prompts, n)
    res = constrained_partition(x, idx, k, gmin, seed=seed, return_details=True)
    k_eff = int(effective_num_groups(n, k, gmin))
    for rows in group_rows(idx, len(x)):
        counts = np.bincount(res.labels[rows])
        assert len(counts) == k_eff
        if n >= gmin:
            assert counts.min() >= gmin
    assert (res.num_groups == k_eff).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(6, 16))
def test_permutation_equivariance(seed, n):
    rng = np.random.default_rng(seed)
    x, idx = _batch(rng, 4, n)
    lab = constrained_partition(x, idx, 3, 2, seed=seed)
    perm = rng.permutation(len(x))
    lab_p = constrained_partition(x[perm], idx[perm], 3, 2, seed=seed)
    np.testing.assert_array_equal(lab_p, lab[perm])


def test_deterministic_for_a_seed_and_torch_in_torch_out():
    x, idx = _batch(np.random.default_rng(0), 5, 15)
    a = constrained_partition(x, idx, 3, 3, seed=7)
    b = constrained_partition(torch.from_numpy(x), idx, 3, 3, seed=7)
    assert isinstance(b, torch.Tensor)
    np.testing.assert_array_equal(a, b.numpy())


def test_reduced_k_when_too_few_valid_responses():
    x, idx = _batch(np.random.default_rng(0), 1, 15)
    valid = np.zeros(15, dtype=bool)
    valid[:7] = True  # 7 valid -> K_eff = floor(7/3) = 2
    res = constrained_partition(x, idx, 3, 3, valid=valid, return_details=True)
    assert res.num_groups.tolist() == [2]
    assert (res.labels[~valid] == -1).all()
    assert np.bincount(res.labels[valid]).min() >= 3


def test_identical_responses_are_split_without_error():
    x = np.ones((9, 4))
    lab = constrained_partition(x, np.zeros(9), 3, 3)
    assert sorted(np.bincount(lab)) == [3, 3, 3]


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(num_groups=0), "num_groups"),
        (dict(min_group_size=0), "min_group_size"),
        (dict(min_group_size=1), "min_group_size.*no baseline"),
        (dict(num_groups="3"), "num_groups"),
    ],
)
def test_bad_arguments_name_the_setting(bad, match):
    kw = dict(num_groups=3, min_group_size=3) | bad
    with pytest.raises(ValueError, match=match):
        constrained_partition(np.ones((9, 2)), np.zeros(9), **kw)


def test_nan_and_zero_embeddings_are_refused():
    x = np.ones((9, 2))
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        constrained_partition(x, np.zeros(9))
    with pytest.raises(ValueError, match="all zeros"):
        constrained_partition(np.zeros((9, 2)), np.zeros(9))


def test_quality_not_worse_than_k_means_constrained():
    kmc = pytest.importorskip("k_means_constrained", reason="k-means-constrained is a test extra")
    rng = np.random.default_rng(3)
    x, idx = _batch(rng, 24, 15, d=64)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    theirs = sum(
        kmc.KMeansConstrained(n_clusters=3, size_min=3, random_state=0).fit(xn[r]).inertia_
        for r in group_rows(idx, len(x))
    )
    ours = partition_inertia(x, idx, constrained_partition(x, idx, 3, 3))
    assert ours <= theirs + 1e-6
