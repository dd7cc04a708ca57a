"""The report command on awkward inputs (issue 11, hostile review): folders holding two runs, bad
--out and numeric flags, --overwrite over an earlier report, tables of runs at different steps or with
different prompts / n, NaN metrics, monitor-only GRPO runs, benchmark aliases.

Run folders are synthetic and small (no verl run): dumps ``<step>.jsonl`` with {uid, data_source, acc},
the hook's records and embeddings written with :mod:`verl_mupo.evaluation`'s writers, verl's
``file``-logger JSONL (``{"step", "data"}``; NaN written as ``null``, as verl's orjson writes it)
and a console log of ``step:N - key:value`` lines (verl's ``concat_dict_to_str`` format). Figures are
checked through their artists' data."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from verl_mupo.evaluation import Sampling, acc_at_k, dump_counts, evaluate, metrics_of, write_embeddings, write_record
from verl_mupo.report.build import build_report, write_report
from verl_mupo.report.cli import main
from verl_mupo.report.runs import ReportError, Run

# {benchmark: [per prompt: accs of its samples]}
BENCHES = {"MathVista": [[1, 0, 1, 0], [0, 0, 0, 1]], "MMStar": [[1, 1, 0, 0], [0, 1, 0, 0]]}


def _by_hand(accs_per_prompt, k):
    return float(np.mean([acc_at_k(len(a), sum(a), k) for a in accs_per_prompt]))


def _write_dump(val: Path, step: int, benches, sampling=Sampling(n=4, temperature=1.0), mode="mupo",
                embeddings=True, seed=0):
    val.mkdir(parents=True, exist_ok=True)
    rows = [(b, p, s, a) for b, prompts in benches.items() for p, accs in enumerate(prompts) for s, a in enumerate(accs)]
    keys = [f"{b}{p}_{s}_0" for b, p, s, _ in rows]
    with open(val / f"{step}.jsonl", "w") as f:
        for (b, _, _, a), key in zip(rows, keys):
            f.write(json.dumps({"input": "q", "output": f"answer {key}", "score": float(a), "step": step,
                                "acc": float(a), "data_source": b, "uid": key}) + "\n")
    metrics = metrics_of(evaluate(dump_counts(val / f"{step}.jsonl")), sampling)
    metrics["val-mupo/pairwise_distance"] = 0.4
    if mode is not None:
        write_record(val, step, sampling, metrics, mode=mode)
    if embeddings:
        rng = np.random.default_rng(seed + step)
        emb = rng.normal(size=(len(rows), 8))
        write_embeddings(val, step, emb / np.linalg.norm(emb, axis=1, keepdims=True), [f"{b}{p}" for b, p, *_ in rows],
                         [b for b, *_ in rows], [float(a) for *_, a in rows], keys)
    return metrics


def _console_line(step, data):
    return "(TaskRunner pid=1) step:%d - " % step + " - ".join(f"{k}:{v!r}" for k, v in data.items())


def _train_metrics(step, scale=1.0):
    return {"mupo/lambda": 0.4 - 0.05 * step, "mupo/acc_mean": 0.1 * step * scale,
            "mupo/diversity_bonus_mean": 0.3 * scale, "mupo/pairwise_distance_mean": 0.5 * scale,
            "mupo/group_size_min": 3.0, "mupo/group_size_mean": 5.0, "mupo/group_size_max": 7.0}


def make_run(folder: Path, *, val_steps=(0, 4), train_steps=range(1, 5), benches=BENCHES,
             sampling=Sampling(n=4, temperature=1.0), mode="mupo", scale=1.0, val_sub="val", file_log="metrics.jsonl",
             console_log="train.log", embeddings=True, train=None, config_text=None) -> Path:
    """A run folder: ``val_sub/<step>.jsonl`` with records and embeddings, a file-logger JSONL and a
    console log of the same metrics (``train``: ``{step: metrics}`` overriding :func:`_train_metrics`)."""
    folder.mkdir(parents=True, exist_ok=True)
    logged = {}
    for s in val_steps:
        logged.setdefault(s, {}).update(_write_dump(folder / val_sub, s, benches, sampling, mode, embeddings))
    train = train if train is not None else {s: _train_metrics(s, scale) for s in train_steps}
    for s, m in train.items():
        logged.setdefault(s, {}).update(m)
    logged = dict(sorted(logged.items()))
    if file_log:
        path = folder / file_log
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for s, m in logged.items():  # verl's orjson writes NaN as null
                f.write(json.dumps({"step": s, "data": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                                                         for k, v in m.items()}}) + "\n")
    if console_log:
        text = (config_text or "") + "\n".join(_console_line(s, m) for s, m in logged.items()) + "\n"
        (folder / console_log).write_text(text)
    return folder


def _err(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def _one_line_error(argv, needle):
    rc, err = _err(argv)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err and needle in err, err
    return err


def _lines(fig, gid):
    return [line for ax in fig.axes for line in ax.lines if line.get_gid() == gid]


def _axis(fig, title_start):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title_start))


# ---- 1. a folder holding two runs is refused, naming the folders to give separately


def test_parent_of_two_runs_is_refused_naming_them(tmp_path):
    make_run(tmp_path / "smoke" / "mupo", console_log="mupo.log")
    make_run(tmp_path / "smoke" / "grpo", console_log="grpo.log", mode="monitor", scale=0.5)
    err = _one_line_error([tmp_path / "smoke", "--out", tmp_path / "r"], "holds 2 runs")
    assert "mupo" in err and "grpo" in err
    with pytest.raises(ReportError, match="pass them as separate RUN_DIRs"):
        Run.load(tmp_path / "smoke")


def test_two_file_logs_of_different_runs_in_one_folder_are_refused(tmp_path):
    # verl's default layout $VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl: two experiments, one folder
    run = make_run(tmp_path / "run", file_log="proj/mupo.jsonl")
    (run / "proj" / "grpo.jsonl").write_text(json.dumps({"step": 1, "data": {"mupo/lambda": 0.2}}) + "\n")
    with pytest.raises(ReportError, match=r"mupo\.jsonl.*grpo\.jsonl|grpo\.jsonl.*mupo\.jsonl"):
        Run.load(run)


def test_two_console_logs_of_different_runs_are_refused(tmp_path):
    run = make_run(tmp_path / "run", file_log=None, console_log="mupo.log")
    (run / "grpo.log").write_text(_console_line(1, {"mupo/lambda": 0.2}) + "\n" + _console_line(2, {"mupo/lambda": 0.2}))
    with pytest.raises(ReportError, match="grpo.log"):
        Run.load(run)


def test_file_logs_of_different_runs_in_two_subfolders_are_refused(tmp_path):
    run = make_run(tmp_path / "run", file_log="a/metrics.jsonl", console_log=None)
    make_run(run / "b", val_steps=(), console_log=None)
    with pytest.raises(ReportError, match=r"'a'.*'b'"):
        Run.load(run)


def test_validation_dumps_of_two_runs_in_two_subfolders_are_refused(tmp_path):
    root = tmp_path / "runs"
    make_run(root, val_sub="mupo/val", file_log=None, console_log=None, train_steps=())
    make_run(root, val_sub="grpo/val", file_log=None, console_log=None, train_steps=())
    err = _one_line_error([root, "--out", tmp_path / "r"], "grpo")
    assert "mupo" in err


def test_a_resumed_run_and_its_nested_evaluations_are_one_run(tmp_path):
    """The ViRL39K recipe's layout: metrics/<launch>.jsonl per launch (the second resumes at step 3),
    val_generations/, and MODE=eval's eval/greedy and eval/sampled (each its own verl run with its
    metrics.jsonl): the training run is read, the evaluations are left out with a note."""
    out = tmp_path / "mupo_7b"
    make_run(out, val_sub="val_generations", file_log="metrics/20260101-000000.jsonl", console_log=None,
             val_steps=(0, 4), train_steps=(1, 2, 3))
    resumed = out / "metrics" / "20260102-000000.jsonl"
    resumed.write_text("".join(json.dumps({"step": s, "data": _train_metrics(s, 2.0)}) + "\n" for s in (3, 4, 5)))
    os.utime(resumed, (time.time() + 10, time.time() + 10))
    for sub, sampling in (("greedy", Sampling(n=1, temperature=0.0)), ("sampled", Sampling(n=4, temperature=1.0))):
        benches = {"MathVista": [[1, 1, 1, 1], [1, 1, 1, 1]]} if sub == "sampled" else {"MathVista": [[1], [1]]}
        make_run(out / "eval" / sub, val_sub=".", val_steps=(4,), train_steps=(), benches=benches, sampling=sampling,
                 console_log=None)
    run = Run.load(out)
    assert run.val_dir == out / "val_generations"
    assert run.metrics[3]["mupo/acc_mean"] == pytest.approx(0.6)  # the resumed launch wins on step 3
    assert run.metrics[1]["mupo/acc_mean"] == pytest.approx(0.1)
    assert run.metrics[4]["val-mupo/MathVista/acc@1"] == pytest.approx(_by_hand(BENCHES["MathVista"], 1))  # not eval's 1.0
    assert [m for m in run.metric_files if "eval" in m.parts] == []
    assert any("eval/greedy" in n and "another run" in n for n in run.notes)


def test_a_resumed_console_log_is_not_a_second_run(tmp_path):
    run = make_run(tmp_path / "run", file_log=None, console_log="a.log", train_steps=(1, 2))
    later = run / "b.log"
    later.write_text("\n".join(_console_line(s, _train_metrics(s, 2.0)) for s in (2, 3)))
    os.utime(later, (time.time() + 10, time.time() + 10))
    loaded = Run.load(run)
    assert sorted(loaded.series("mupo/acc_mean")[0]) == [1, 2, 3]


# ---- 2. --out and numeric flags: one line naming the flag, exit 2, no traceback


@pytest.mark.parametrize("overwrite", [False, True])
def test_out_that_is_a_file_is_a_one_line_error(tmp_path, overwrite):
    run = make_run(tmp_path / "run")
    (tmp_path / "file.txt").write_text("mine")
    err = _one_line_error([run, "--out", tmp_path / "file.txt"] + (["--overwrite"] if overwrite else []),
                          f"--out {tmp_path / 'file.txt'}")
    assert "not a folder" in err and (tmp_path / "file.txt").read_text() == "mine"
    _one_line_error([run, "--out", "/dev/null"] + (["--overwrite"] if overwrite else []), "--out /dev/null")


def test_out_that_cannot_be_created_is_a_one_line_error(tmp_path):
    run = make_run(tmp_path / "run")
    (tmp_path / "file.txt").write_text("mine")
    _one_line_error([run, "--out", tmp_path / "file.txt" / "report"], "--out")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root writes anywhere
            _one_line_error([run, "--out", ro / "report"], "--out")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("args,needle", [
    (["--seed", "-1"], "--seed -1"),
    (["--seed", "4294967296"], "--seed 4294967296"),
    (["--tsne-max-points", "0"], "--tsne-max-points 0"),
    (["--step", "-3"], "--step -3"),
    (["--tsne-step", "-1"], "--tsne-step -1"),
    (["--seed", "abc"], "--seed"),
])
def test_invalid_numeric_flags_are_one_line_errors(tmp_path, args, needle):
    run = make_run(tmp_path / "run")
    _one_line_error([run, "--out", tmp_path / "r"] + args, needle)
    assert not (tmp_path / "r").exists()


# ---- 3. --overwrite leaves no figure of the earlier report behind, and no user file is deleted


def test_overwrite_removes_the_earlier_reports_figures_only(tmp_path):
    with_emb = make_run(tmp_path / "a")
    without = make_run(tmp_path / "b", embeddings=False)
    out = tmp_path / "report"
    assert _err([with_emb, "--out", out])[0] == 0
    assert (out / "tsne.png").exists()
    (out / "notes.txt").write_text("mine")
    (out / "my_plot.png").write_text("mine")
    assert _err([without, "--out", out, "--overwrite"])[0] == 0
    assert not (out / "tsne.png").exists()  # stale: the new summary has no t-SNE
    assert (out / "notes.txt").read_text() == "mine" and (out / "my_plot.png").read_text() == "mine"
    assert "tsne.png" not in (out / "summary.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["acc_at_k.png", "acc_over_steps.png", "mupo_curves.png",
                                                     "my_plot.png", "notes.txt", "summary.md"]


def test_overwrite_keeps_a_user_file_named_like_a_figure(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "tsne.png").write_text("the user's own picture, no report here")
    assert _err([make_run(tmp_path / "b", embeddings=False), "--out", out, "--overwrite"])[0] == 0
    assert (out / "tsne.png").read_text() == "the user's own picture, no report here"


# ---- 4. the summary table says, per column, which run, which step, how many prompts and n


def _table_rows(summary):
    """``{benchmark: {header: cell}}`` of the first acc table in summary.md."""
    lines = summary.split("## acc@1 and acc@4")[1].split("\n\n")[2].splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return {cells[0]: dict(zip(head, cells)) for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}


def test_table_columns_name_run_step_prompts_and_n(tmp_path):
    a = make_run(tmp_path / "a", val_steps=(0, 4))
    wide = {"MathVista": [[1, 0, 1, 0, 0, 0, 0, 0]] * 3, "MMStar": [[1, 1, 0, 0, 0, 0, 0, 1]] * 3}
    b = make_run(tmp_path / "b", val_steps=(0, 6), benches=wide, sampling=Sampling(n=8, temperature=1.0))
    report = build_report([Run.load(a, "MUPO"), Run.load(b, "GRPO")])
    rows = _table_rows(report.summary)
    mv = rows["MathVista"]
    assert mv["MUPO acc@1(mean of 4), step 4"] == f"{100 * _by_hand(BENCHES['MathVista'], 1):.1f}"
    assert mv["GRPO acc@4(of 8), step 6"] == f"{100 * _by_hand(wide['MathVista'], 4):.1f}"
    assert mv["MUPO prompts x n, step 4"] == "2 x 4" and mv["GRPO prompts x n, step 6"] == "3 x 8"
    assert rows["math_avg"]["GRPO prompts x n, step 6"] == "3 x 8"


def test_table_of_a_run_read_from_logs_says_prompts_unknown(tmp_path):
    src = make_run(tmp_path / "src")
    logs = tmp_path / "logs_only"
    logs.mkdir()
    (logs / "metrics.jsonl").write_text((src / "metrics.jsonl").read_text())
    rows = _table_rows(build_report([Run.load(logs, "L")]).summary)
    assert rows["MathVista"]["L prompts x n, step 4"] == "? x 4"


# ---- 5. the difference column compares the same step, or says it does not


def test_difference_of_runs_shown_at_different_steps_is_taken_at_the_latest_common_step(tmp_path):
    later = {"MathVista": [[1, 1, 1, 1], [1, 1, 1, 1]], "MMStar": [[1, 1, 1, 1], [1, 1, 1, 1]]}
    a = make_run(tmp_path / "a", val_steps=(0, 4))
    _write_dump(a / "val", 8, later)  # MUPO validated once more than GRPO
    b = make_run(tmp_path / "b", val_steps=(0, 4), mode="monitor",
                 benches={"MathVista": [[0, 0, 0, 0], [0, 0, 0, 1]], "MMStar": [[1, 0, 0, 0], [0, 0, 0, 0]]})
    report = build_report([Run.load(a, "MUPO"), Run.load(b, "GRPO")])
    assert report.steps == {"MUPO": 8, "GRPO": 4}
    mv = _table_rows(report.summary)["MathVista"]
    assert mv["MUPO acc@4(of 4), step 8"] == "100.0"
    diff = mv["MUPO - GRPO acc@4 (both at step 4)"]
    assert diff == f"{100 * (_by_hand(BENCHES['MathVista'], 4) - _by_hand([[0, 0, 0, 0], [0, 0, 0, 1]], 4)):+.1f}"
    assert "latest common validation step" in report.summary


def test_difference_without_a_common_step_names_both_steps(tmp_path):
    a = make_run(tmp_path / "a", val_steps=(1, 3), train_steps=())
    b = make_run(tmp_path / "b", val_steps=(2, 4), train_steps=())
    report = build_report([Run.load(a, "MUPO"), Run.load(b, "GRPO")])
    head = [h for h in _table_rows(report.summary)["MathVista"] if " - " in h]
    assert head == ["MUPO - GRPO acc@1 (MUPO step 3 vs GRPO step 4, no common step)",
                    "MUPO - GRPO acc@4 (MUPO step 3 vs GRPO step 4, no common step)"]
    assert "share no validation step" in report.summary


# ---- 7. benchmark aliases land in one row and one panel under the catalog's name


def test_aliases_of_one_benchmark_share_a_row_and_a_panel(tmp_path):
    a = make_run(tmp_path / "a", benches={"MathVista_MINI": BENCHES["MathVista"]})
    b = make_run(tmp_path / "b", benches={"mathvista": [[1, 1, 1, 1], [0, 0, 0, 0]]})
    report = build_report([Run.load(a, "MUPO"), Run.load(b, "GRPO")], tsne_benchmark="MathVista_MINI")
    rows = _table_rows(report.summary)
    assert set(rows) == {"MathVista", "math_avg"}
    assert rows["MathVista"]["MUPO acc@4(of 4), step 4"] == "100.0" and rows["MathVista"]["GRPO acc@4(of 4), step 4"] == "50.0"
    fig = report.figures["acc_at_k.png"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["MathVista", "math average"]
    assert len(_lines(fig, "run:MUPO")) == len(_lines(fig, "run:GRPO")) == 2
    assert [line.get_gid() for line in _axis(fig, "MathVista").lines if line.get_gid().startswith("paper:")]  # the paper's
    steps = report.figures["acc_over_steps.png"]
    assert [ax.get_title() for ax in steps.axes if ax.get_visible()] == ["MathVista", "math average"]
    tsne = report.figures["tsne.png"]
    assert sum(len(c.get_offsets()) for ax in tsne.axes for c in ax.collections) == 16


# ---- 6. the mupo/* curves: as logged (not scaled again), NaN and unlogged steps are gaps, monitor runs labelled


def test_diversity_curve_is_the_logged_value_not_scaled_by_lambda_again(tmp_path):
    train = {s: dict(_train_metrics(s), **{"mupo/diversity_bonus_mean": 0.1 * s, "mupo/diversity_reward_mean": 0.1 * s * (0.4 - 0.05 * s)})
             for s in (1, 2, 3)}
    run = Run.load(make_run(tmp_path / "a", train=train), "MUPO")
    fig = build_report([run]).figures["mupo_curves.png"]
    (line,) = _lines(fig, "run:MUPO:mupo/diversity_bonus_mean")
    assert list(line.get_xdata()) == [1, 2, 3] and np.allclose(line.get_ydata(), [0.1, 0.2, 0.3])
    assert "before lambda" in _axis(fig, "diversity bonus").get_ylabel()


def test_nan_and_unlogged_steps_are_gaps_not_joined(tmp_path):
    train = {s: _train_metrics(s) for s in range(1, 6)}
    train[2]["mupo/pairwise_distance_mean"] = float("nan")  # console: nan; file logger: null (dropped)
    del train[4]["mupo/group_size_max"]  # a step that did not log it
    run = Run.load(make_run(tmp_path / "a", train=train), "MUPO")
    fig = build_report([run]).figures["mupo_curves.png"]
    (dist,) = _lines(fig, "run:MUPO:mupo/pairwise_distance_mean")
    assert list(dist.get_xdata()) == [1, 2, 3, 4, 5]
    y = np.asarray(dist.get_ydata(), dtype=float)
    assert np.isnan(y[1]) and np.allclose(y[[0, 2, 3, 4]], 0.5)
    (size,) = _lines(fig, "run:MUPO:mupo/group_size_max")
    assert list(size.get_xdata()) == [1, 2, 3, 4, 5] and np.isnan(np.asarray(size.get_ydata(), dtype=float)[3])
    # a step without any correct response: the logged 0.0 bonus is undefined, drawn as a gap
    train = {s: _train_metrics(s) for s in range(1, 4)}
    train[1]["mupo/acc_mean"] = 0.0
    train[1]["mupo/diversity_bonus_mean"] = 0.0
    fig = build_report([Run.load(make_run(tmp_path / "b", train=train), "B")]).figures["mupo_curves.png"]
    (bonus,) = _lines(fig, "run:B:mupo/diversity_bonus_mean")
    assert np.isnan(bonus.get_ydata()[0]) and np.allclose(bonus.get_ydata()[1:], 0.3)


def test_a_monitor_only_grpo_run_is_labelled_in_the_legend(tmp_path):
    mupo = Run.load(make_run(tmp_path / "mupo"), "MUPO")
    grpo = Run.load(make_run(tmp_path / "grpo", mode="monitor", scale=0.5), "GRPO")
    assert (mupo.mode, grpo.mode) == ("mupo", "monitor")
    fig = build_report([mupo, grpo]).figures["mupo_curves.png"]
    (lam,) = _lines(fig, "run:GRPO:mupo/lambda")
    assert "monitor" in lam.get_label()
    assert "monitor" not in _lines(fig, "run:MUPO:mupo/lambda")[0].get_label()
    assert any("monitor" in t.get_text() for legend in fig.legends for t in legend.get_texts())
    # no records: the config verl printed in the console log says it
    config = "{'algorithm': {'adv_estimator': 'grpo', 'mupo': {'monitor_only': True, 'num_groups': 3}}}\n"
    logs = make_run(tmp_path / "logs", val_steps=(), file_log=None, config_text=config)
    assert Run.load(logs).mode == "monitor"


# ---- issue 20: a truncated embeddings file and a metrics file of random bytes are one-line errors


def test_a_truncated_embeddings_file_is_a_one_line_error_naming_it(tmp_path):
    run = make_run(tmp_path / "run")
    npz = run / "val" / "4.embeddings.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])  # the run stopped while writing it
    err = _one_line_error([run, "--out", tmp_path / "r"], f"{npz}: not a readable embeddings file")
    assert "BadZipFile" in err


def test_a_metrics_file_of_random_bytes_is_an_error_like_a_bad_line(tmp_path):
    """It was skipped without a word, while one bad line inside a log is an error."""
    run = make_run(tmp_path / "run", file_log=None)
    junk = run / "metrics.jsonl"
    junk.write_bytes(np.random.default_rng(0).bytes(2000) + b"\n")
    _one_line_error([run, "--out", tmp_path / "r"], f"{junk}:1: not JSON")
    # JSON of another shape, an empty file and a first record still being written are not metrics: no error
    for text in ('{"rows": 3}\n', "", '{"step": 1, "da'):
        junk.write_text(text)
        assert Run.load(run).metric_files == [run / "train.log"]
