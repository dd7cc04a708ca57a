"""acc@k from verl validation dumps that the tests write in verl's JSONL layout (verl's own writer
where it matters), and the command line's errors (one line naming the file and line or the flag,
exit code 2)."""

import contextlib
import io
import itertools
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from verl_mupo.evaluation import (EvaluationError, Sampling, acc_at_k, correct_counts, dump_counts, evaluate, main,
                                  metrics_of, read_embeddings, read_record, resolve_dump, split_uid,
                                  write_embeddings, write_record)


def test_unbiased_estimator_by_hand():
    assert acc_at_k(4, 1, 4) == 1.0  # verl's bootstrap best@4 reads 0.684 here
    assert acc_at_k(4, 1, 1) == 0.25
    assert acc_at_k(8, 2, 4) == pytest.approx(1 - 15 / 70)  # C(6,4)/C(8,4)
    assert acc_at_k(5, 0, 4) == 0.0
    with pytest.raises(ValueError, match="validation n"):
        acc_at_k(2, 1, 4)
    with pytest.raises(ValueError, match="k >= 1"):
        acc_at_k(4, 1, 0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_estimator_equals_the_fraction_of_k_subsets_with_a_correct_sample(n):
    for c in range(n + 1):
        samples = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(samples, k))
            assert acc_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def _write_dump(path, rows_by_bench, extra=None):
    """verl's layout: one line per sample, uid = <prompt uid>_<session>_<index>."""
    with open(path, "w") as f:
        for bench, prompts in rows_by_bench.items():
            for p, accs in enumerate(prompts):
                for s, a in enumerate(accs):
                    row = {"input": f"q{p}", "output": "...", "gts": "1", "score": a, "step": 10, "acc": a,
                           "data_source": bench, "uid": f"{bench}-{p}_{s}_0", **(extra or {})}
                    f.write(json.dumps(row) + "\n")


def _cli(*args):
    """The command in this process (an exception other than the handled errors propagates)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_python_dash_m_exits_2_with_one_line(tmp_path):
    (tmp_path / "1.jsonl").write_text('{"uid": "a_0_0", "acc": 0.5, "data_source": "MMStar"}\n')
    out = subprocess.run([sys.executable, "-m", "verl_mupo.evaluation", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "1.jsonl:1: acc=0.5" in out.stderr


def test_table_per_benchmark_and_group_averages(tmp_path):
    _write_dump(tmp_path / "10.jsonl", {
        "MathVista_MINI": [[1, 0, 0, 0], [0, 0, 0, 0]],
        "MathVerse_MINI_Vision_Only": [[1, 1, 1, 1]],
        "MMStar": [[0, 1, 0, 0], [1, 1, 0, 0]],
    })
    _write_dump(tmp_path / "5.jsonl", {"MMStar": [[0, 0, 0, 0]]})
    dump = resolve_dump(tmp_path)
    assert dump.name == "10.jsonl"  # the newest step
    table = {r.name: r for r in evaluate(dump_counts(dump), ks=(1, 4))}
    assert table["MathVista_MINI"].acc == pytest.approx({1: 0.125, 4: 0.5})
    assert table["MMStar"].acc[1] == pytest.approx(0.375) and table["MMStar"].acc[4] == 1.0
    assert table["math_avg"].acc[1] == pytest.approx((0.125 + 1.0) / 2)
    assert table["math_avg"].members == ("MathVerse_MINI_Vision_Only", "MathVista_MINI")
    assert table["general_avg"].acc[4] == 1.0 and table["MMStar"].prompts == 2 and table["MMStar"].n == 4
    out = _cli(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "MathVista_MINI" in out.stdout and "12.50" in out.stdout and "sampling unknown" in out.stdout
    assert "37.50" not in _cli(tmp_path, "--step", "5").stdout and "0.00" in _cli(tmp_path, "--step", "5").stdout


def test_every_k_up_to_n_by_default_in_metrics():
    counts = correct_counts(["A"] * 4 + ["B"] * 4, ["p"] * 4 + ["q"] * 4, [1, 0, 0, 0, 0, 0, 0, 0])
    results = evaluate(counts)
    assert {r.name: sorted(r.acc) for r in results} == {"A": [1, 2, 3, 4], "B": [1, 2, 3, 4]}
    metrics = metrics_of(results, Sampling(n=4, temperature=1.0))
    assert metrics["val-mupo/A/acc@2"] == 0.5 and metrics["val-mupo/B/acc@4"] == 0.0
    greedy = metrics_of(results, Sampling(n=4, temperature=0.0))
    assert greedy == {"val-mupo/A/acc@1_greedy": 0.25, "val-mupo/B/acc@1_greedy": 0.0}


def test_missing_samples_count_as_incorrect():
    counts = correct_counts(["A", "A"], ["p", "p"], [1, 1], expected={("A", "p"): 4})
    assert counts == {"A": {"p": [4, 2]}}
    assert evaluate(counts)[0].acc[1] == 0.5


def test_a_multi_output_session_is_one_sample(tmp_path):
    rows = [{"uid": "u_0_0", "acc": 1, "data_source": "MMStar"}, {"uid": "u_0_1", "acc": 1, "data_source": "MMStar"},
            {"uid": "u_1_0", "acc": 0, "data_source": "MMStar"}]
    (tmp_path / "3.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert dump_counts(tmp_path / "3.jsonl") == {"MMStar": {"u": [2, 1]}}
    assert split_uid("a_b_3_1") == ("a_b", "a_b_3") and split_uid("plain") == ("plain", "plain")


def test_the_scorers_benchmark_field_names_the_row(tmp_path):
    # pkg://verl_mupo.scoring returns the data_source as "benchmark" (verl's legacy trainer refuses a
    # second data_source column); a row with data_source keeps it, one with neither is an error
    rows = [{"uid": "u_0_0", "acc": 1, "benchmark": "MMStar"}, {"uid": "u_1_0", "acc": 0, "benchmark": "MMStar"},
            {"uid": "v_0_0", "acc": 1, "data_source": "MathVista", "benchmark": "ignored"}]
    (tmp_path / "3.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert dump_counts(tmp_path / "3.jsonl") == {"MMStar": {"u": [2, 1]}, "MathVista": {"v": [1, 1]}}


def test_judge_scored_sets_are_reported_apart_and_kept_out_of_averages(tmp_path):
    _write_dump(tmp_path / "1.jsonl", {"MMStar": [[1, 0]], "MMVet": [[1, 1]]})
    table = {r.name: r for r in evaluate(dump_counts(tmp_path / "1.jsonl"), ks=(1,))}
    assert table["MMVet"].scoring == "judge" and table["general_avg"].members == ("MMStar",)
    assert table["general_avg"].acc[1] == 0.5
    out = _cli(tmp_path / "1.jsonl", "-k", "1").stdout
    judged = out.split("judge-scored in the paper")[1]
    assert "MMVet" in judged and "MMVet" not in out.split("judge-scored in the paper")[0]


def test_greedy_and_sampled_dumps_side_by_side(tmp_path):
    greedy, sampled = tmp_path / "greedy", tmp_path / "sampled"
    greedy.mkdir(), sampled.mkdir()
    _write_dump(greedy / "0.jsonl", {"MMStar": [[1], [0]]})
    _write_dump(sampled / "0.jsonl", {"MMStar": [[1, 0, 0, 0], [0, 0, 0, 1]]})
    write_record(greedy, 0, Sampling(n=1, temperature=0.0), {})
    write_record(sampled, 0, Sampling(n=4, temperature=1.0), {})
    assert read_record(greedy, 0)["sampling"].greedy and read_record(tmp_path, 0) is None
    out = _cli(greedy, sampled)
    assert out.returncode == 0, out.stderr
    head, row = out.stdout.splitlines()[:2]
    assert head.split()[1:4] == ["acc@1(greedy)", "acc@1(mean", "of"]
    assert "acc@4(of 4)" in head
    assert row.split()[1:4] == ["50.00", "25.00", "100.00"]
    assert "greedy (temperature 0)" in out.stdout and "n=4 samples at temperature 1" in out.stdout
    both = _cli(greedy, sampled, "-k", "1", "4")  # as recipes/virl39k/eval.sh calls it: acc@4 of the sampled dump only
    assert both.returncode == 0 and both.stdout.splitlines()[0] == head
    _assert_one_line_error(_cli(greedy, "-k", "4"), "-k 4", "greedy")


def test_embeddings_file_round_trip(tmp_path):
    emb = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    path = write_embeddings(tmp_path, 7, emb, ["p", "p", "q"], ["A", "A", "B"], [1.0, 0.0, float("nan")],
                            keys=["p_0_0", "p_1_0", ""])
    assert path.name == "7.embeddings.npz"
    z = read_embeddings(path)
    assert np.allclose(z["embedding"], emb, atol=1e-2) and z["key"].tolist() == ["p_0_0", "p_1_0", ""]
    assert z["data_source"].tolist() == ["A", "A", "B"] and np.isnan(z["acc"][2]) and int(z["step"]) == 7
    with pytest.raises(ValueError, match="differ in length"):
        write_embeddings(tmp_path, 8, emb, ["p"], ["A"], [1.0])


# ---- issue #8: bad input is an error naming the file and line or the flag (each passed silently before)


def _assert_one_line_error(out, *needles):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_corrupt_line_names_file_and_line(tmp_path):
    good = json.dumps({"uid": "a_0_0", "acc": 1, "data_source": "MMStar"})
    (tmp_path / "4.jsonl").write_text(good + "\n" + '{"uid": "a_1_0", "acc": 1' + "\n")
    _assert_one_line_error(_cli(tmp_path), f"{tmp_path / '4.jsonl'}:2", "not valid JSON")


def test_rows_without_data_source_are_an_error(tmp_path):
    # the old report pooled these into one row: two benchmarks at 100% and 0% read as one at 50%
    rows = [{"uid": f"a{p}_{s}_0", "acc": float(p == 0)} for p in range(2) for s in range(4)]
    (tmp_path / "1.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _assert_one_line_error(_cli(tmp_path), f"{tmp_path / '1.jsonl'}:1", "no 'data_source'")
    with pytest.raises(EvaluationError, match="pooled"):
        dump_counts(tmp_path / "1.jsonl")


def test_acc_outside_0_1_is_an_error(tmp_path):
    rows = [{"uid": "a_0_0", "acc": 1, "data_source": "MMStar"}, {"uid": "a_1_0", "acc": 0.5, "data_source": "MMStar"}]
    (tmp_path / "1.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _assert_one_line_error(_cli(tmp_path), f"{tmp_path / '1.jsonl'}:2", "acc=0.5")


def test_missing_acc_is_an_error(tmp_path):
    (tmp_path / "1.jsonl").write_text(json.dumps({"uid": "a_0_0", "score": 1.0, "data_source": "MMStar"}) + "\n")
    _assert_one_line_error(_cli(tmp_path), "1.jsonl:1", "no 'acc'", "reward_manager.name=mupo")


@pytest.mark.parametrize("k", ["0", "-1"])
def test_k_below_one_is_an_error(tmp_path, k):
    _write_dump(tmp_path / "1.jsonl", {"MMStar": [[1, 0, 0, 0]]})
    _assert_one_line_error(_cli(tmp_path, "-k", "1", k), f"-k {k}", "k must be >= 1")


def test_k_above_the_samples_is_an_error(tmp_path):
    _write_dump(tmp_path / "1.jsonl", {"MMStar": [[1, 0, 0, 0]]})
    _assert_one_line_error(_cli(tmp_path, "-k", "8"), "-k 8", "val_kwargs.n")


def test_missing_paths_and_steps_are_one_line_errors(tmp_path):
    _assert_one_line_error(_cli(tmp_path / "nope"), "no such file")
    _assert_one_line_error(_cli(tmp_path), "no <step>.jsonl")
    _write_dump(tmp_path / "1.jsonl", {"MMStar": [[1]]})
    _assert_one_line_error(_cli(tmp_path, "--step", "3"), "--step 3", "[1]")
    assert main([str(tmp_path), "-k", "1"]) == 0


# ---- issue 20: acc@4 kept where the samples allow, aliases of one benchmark counted once


def test_acc4_is_kept_for_benchmarks_with_enough_samples_and_the_others_are_named(tmp_path):
    """One benchmark with n=2 used to drop acc@4 for every benchmark, without a word."""
    _write_dump(tmp_path / "3.jsonl", {
        "MathVista_MINI": [[1, 0, 0, 0], [0, 0, 0, 0]],
        "MathVerse_MINI_Vision_Only": [[1, 0, 0, 0]],
        "MMStar": [[0, 1], [1, 1]],
    })
    out = _cli(tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line and not line.startswith(" ")}
    assert rows["benchmark"][:2] == ["acc@1", "acc@4"]
    assert rows["MathVista_MINI"][:2] == ["12.50", "50.00"] and rows["math_avg"][1] == "75.00"
    assert rows["MMStar"][:2] == ["75.00", "-"] and rows["general_avg"][1] == "-"
    assert "acc@4 not reported for MMStar (n=2), general_avg: it needs at least 4 samples per prompt" in out.stdout


def test_aliases_of_one_benchmark_count_once_in_the_average():
    """MathVista_MINI and mathvista are one catalog benchmark (as the report merges them): the math
    average used to count MathVista twice."""
    counts = {"MathVista_MINI": {"p": [4, 4], "q": [4, 0]}, "mathvista": {"r": [4, 4]},
              "MathVerse_MINI_Vision_Only": {"s": [4, 0]}}
    table = {r.name: r for r in evaluate(counts, ks=(1,))}
    assert table["MathVista_MINI"].acc[1] == 0.5 and table["mathvista"].acc[1] == 1.0  # rows kept apart
    # MathVista pooled over its 3 prompts: 2/3; MathVerse 0: mean 1/3 (not (0.5 + 1 + 0) / 3 = 0.5)
    assert table["math_avg"].acc[1] == pytest.approx(1 / 3)
    assert table["math_avg"].members == ("MathVerse_MINI_Vision_Only", "MathVista_MINI+mathvista")
    assert table["math_avg"].prompts == 4


def test_a_truncated_or_foreign_embeddings_file_is_an_error_naming_it(tmp_path):
    emb = np.eye(3, dtype=np.float32)
    path = write_embeddings(tmp_path, 2, emb, ["p", "p", "q"], ["A", "A", "B"], [1.0, 0.0, 1.0])
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(EvaluationError, match=rf"{re.escape(str(path))}: not a readable embeddings file"):
            read_embeddings(path)
    np.save(tmp_path / "one.npy", emb)
    with pytest.raises(EvaluationError, match="not an .npz archive"):
        read_embeddings(tmp_path / "one.npy")
    np.savez(tmp_path / "other.npz", x=emb)
    with pytest.raises(EvaluationError, match=r"other.npz: no embedding, data_source array"):
        read_embeddings(tmp_path / "other.npz")
