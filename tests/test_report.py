"""The report command on run folders that verl's own writers fill (``PPOTrainer._write_generations``
for the dumps, ``Tracking`` with the console and file backends for the metrics), and once on a real
CPU smoke run with validation (e2e). The figures are checked through their artists' data, not
pixels: every plotted value equals the acc@k worked out from the dump or the logged metric."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from verl_mupo.evaluation import (Sampling, acc_at_k, dump_counts, evaluate, metrics_of, read_embeddings,
                                  write_embeddings, write_record)
from verl_mupo.report.build import build_report, write_report
from verl_mupo.report.cli import main
from verl_mupo.report.logs import LogError, merge_by_step, parse_console_metrics, read_file_logger
from verl_mupo.report.runs import ReportError, Run
from smoke import STEPS

ROOT = Path(__file__).resolve().parents[1]

# per validation step: {benchmark: [per prompt: accs of its 4 samples]}
VALIDATIONS = {
    "mupo": {0: {"MathVista": [[1, 0, 0, 0], [0, 0, 0, 0]], "MMStar": [[1, 1, 0, 0], [0, 0, 0, 0]],
                 "MMVet": [[0, 0, 1, 0]]},
             4: {"MathVista": [[1, 0, 1, 0], [0, 0, 0, 1]], "MMStar": [[1, 1, 0, 0], [0, 1, 0, 0]],
                 "MMVet": [[1, 1, 1, 0]]}},
    "grpo": {0: {"MathVista": [[1, 0, 0, 0], [0, 0, 0, 0]], "MMStar": [[1, 1, 0, 0], [0, 0, 0, 0]],
                 "MMVet": [[0, 0, 1, 0]]},
             4: {"MathVista": [[1, 1, 1, 1], [0, 0, 0, 0]], "MMStar": [[1, 1, 1, 0], [0, 0, 0, 0]],
                 "MMVet": [[1, 1, 1, 1]]}},
}


def _lam(step):
    return 0.1 + 0.3 * (1 + np.cos(np.pi * (step - 1) / 3)) / 2


def _write_run(root: Path, algo: str, monkeypatch, sampling=Sampling(n=4, temperature=1.0)) -> Path:
    """A run folder as verl writes it: val_generations/<step>.jsonl (verl's writer), the hook's records
    and embeddings, a console log and a file-logger JSONL (verl's Tracking)."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    from verl.utils.tracking import Tracking

    run = root / algo
    val = run / "val_generations"
    rng = np.random.default_rng(0 if algo == "mupo" else 1)
    val_metrics = {}
    for step, benches in VALIDATIONS[algo].items():
        rows = [(b, p, s, a) for b, prompts in benches.items() for p, accs in enumerate(prompts) for s, a in enumerate(accs)]
        keys = [f"{b}{p}_{s}_0" for b, p, s, _ in rows]
        PPOTrainer._write_generations(
            inputs=["q"] * len(rows), outputs=[f"answer {k}" for k in keys], gts=["1"] * len(rows),
            scores=[float(a) for *_, a in rows],
            reward_extra_infos_dict={"acc": [float(a) for *_, a in rows], "data_source": [b for b, *_ in rows],
                                     "uid": keys},
            dump_path=str(val), global_steps=step)
        m = metrics_of(evaluate(dump_counts(val / f"{step}.jsonl")), sampling)
        m["val-mupo/pairwise_distance"] = 0.5 if algo == "mupo" else 0.2
        val_metrics[step] = m
        write_record(val, step, sampling, m, mode="mupo" if algo == "mupo" else "monitor")
        centers = rng.normal(size=(3 if algo == "mupo" else 1, 16)) * 4
        emb = centers[np.arange(len(rows)) % len(centers)] + rng.normal(size=(len(rows), 16)) * 0.3
        write_embeddings(val, step, emb / np.linalg.norm(emb, axis=1, keepdims=True), [f"{b}{p}" for b, p, *_ in rows],
                         [b for b, *_ in rows], [float(a) for *_, a in rows], keys)
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(run / "metrics.jsonl"))
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        tracking = Tracking(project_name="p", experiment_name=algo, default_backend=["console", "file"], config={})
        tracking.log(data=val_metrics[0], step=0)
        for step in range(1, 5):
            data = {"mupo/lambda": _lam(step), "mupo/pairwise_distance_mean": 0.6 - 0.1 * step * (algo == "grpo"),
                    "mupo/group_size_min": 3.0, "mupo/group_size_mean": 5.0, "mupo/group_size_max": 7.0,
                    "mupo/acc_mean": 0.1 * step, "mupo/diversity_bonus_mean": 0.3 if algo == "mupo" else 0.0,
                    "critic/score/mean": 0.2}
            if step in val_metrics:
                data.update(val_metrics[step])
            tracking.log(data=data, step=step)
        tracking.finish()
    (run / f"{algo}.log").write_text(console.getvalue())
    return run


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    return _write_run(tmp_path, "mupo", monkeypatch), _write_run(tmp_path, "grpo", monkeypatch)


def _lines(fig, gid_prefix):
    return {line.get_gid(): line for ax in fig.axes for line in ax.lines if (line.get_gid() or "").startswith(gid_prefix)}


def _axis(fig, title_start):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title_start))


def _by_hand(accs_per_prompt, k):
    return float(np.mean([acc_at_k(len(a), sum(a), k) for a in accs_per_prompt]))


def test_acc_at_k_figure_holds_the_estimator_of_each_run(two_runs):
    runs = [Run.load(p) for p in two_runs]
    report = build_report(runs)
    fig = report.figures["acc_at_k.png"]
    assert report.steps == {"mupo": 4, "grpo": 4}
    for bench in ("MathVista", "MMStar"):
        ax = _axis(fig, bench)
        for algo in ("mupo", "grpo"):
            line = next(line for line in ax.lines if line.get_gid() == f"run:{algo}")
            assert list(line.get_xdata()) == [1, 2, 3, 4]
            expected = [100 * _by_hand(VALIDATIONS[algo][4][bench], k) for k in (1, 2, 3, 4)]
            assert np.allclose(line.get_ydata(), expected)
    # by hand: MUPO MathVista c=(2, 1) of 4 -> acc@1 = 3/8, acc@4 = 1; GRPO c=(4, 0) -> 1/2, 1/2
    mv = _axis(fig, "MathVista")
    assert [line.get_ydata()[-1] for line in mv.lines if line.get_gid() in ("run:mupo", "run:grpo")] == [100.0, 50.0]
    math_avg = _axis(fig, "math average")
    paper = {(line.get_gid(), float(line.get_xdata()[0])): float(line.get_ydata()[0]) for line in math_avg.lines
             if line.get_gid().startswith("paper:")}
    assert paper[("paper:MUPO-Thinker-7B", 4.0)] == pytest.approx(58.8)
    assert paper[("paper:Qwen2.5-VL-7B (base)", 1.0)] == pytest.approx(40.1)
    k3 = [line for line in mv.lines if line.get_gid() == "paper:7B, K=3 (MUPO)"]
    assert len(k3) == 1 and k3[0].get_ydata()[0] == pytest.approx(74.1) and "not stated" in k3[0].get_label()
    assert "judge-scored" in _axis(fig, "MMVet").get_title()


def test_acc_over_steps_and_mupo_curves_hold_the_logged_values(two_runs):
    runs = [Run.load(p) for p in two_runs]
    report = build_report(runs)
    steps_fig = report.figures["acc_over_steps.png"]
    ax = _axis(steps_fig, "MMStar")
    acc1 = next(line for line in ax.lines if line.get_gid() == "run:mupo:acc@1")
    acc4 = next(line for line in ax.lines if line.get_gid() == "run:grpo:acc@4")
    assert list(acc1.get_xdata()) == [0, 4]
    assert np.allclose(acc1.get_ydata(), [100 * _by_hand(VALIDATIONS["mupo"][s]["MMStar"], 1) for s in (0, 4)])
    assert np.allclose(acc4.get_ydata(), [100 * _by_hand(VALIDATIONS["grpo"][s]["MMStar"], 4) for s in (0, 4)])

    curves = report.figures["mupo_curves.png"]
    lam = next(line for line in _axis(curves, "lambda").lines if line.get_gid() == "run:grpo:mupo/lambda")
    assert list(lam.get_xdata()) == [1, 2, 3, 4] and np.allclose(lam.get_ydata(), [_lam(s) for s in range(1, 5)])
    dist = _axis(curves, "pairwise distance (train)")
    grpo = next(line for line in dist.lines if line.get_gid() == "run:grpo:mupo/pairwise_distance_mean")
    assert np.allclose(grpo.get_ydata(), [0.5, 0.4, 0.3, 0.2])
    val = next(line for line in _axis(curves, "pairwise distance (validation)").lines if line.get_gid() == "run:mupo:val-mupo/pairwise_distance")
    assert list(val.get_xdata()) == [0, 4] and list(val.get_ydata()) == [0.5, 0.5]
    sizes = {line.get_gid() for line in _axis(curves, "group sizes").lines}
    assert {"run:mupo:mupo/group_size_min", "run:mupo:mupo/group_size_max"} <= sizes


def test_tsne_one_fit_one_panel_per_run_coloured_by_correctness(two_runs):
    runs = [Run.load(p) for p in two_runs]
    report = build_report(runs, tsne_max_points=12)
    fig = report.figures["tsne.png"]
    for run in runs:
        z = read_embeddings(run.val_dir / "4.embeddings.npz")
        pts = {c.get_gid(): c.get_offsets() for ax in fig.axes for c in ax.collections
               if (c.get_gid() or "").startswith(f"tsne:{run.label}:")}
        n_correct, n_wrong = len(pts[f"tsne:{run.label}:correct"]), len(pts[f"tsne:{run.label}:incorrect"])
        assert n_correct + n_wrong == 12  # whole prompts of 4 up to 12 rows, of 20
        assert 0 < n_correct <= int(z["acc"].sum())
    axes = [ax for ax in fig.axes if ax.collections]
    assert len(axes) == 2 and axes[0].get_xlim() == axes[1].get_xlim()  # one fit, shared axes
    small = build_report(runs, tsne_benchmark="MMVet")  # 4 + 4 points: perplexity clamped to 2.3
    assert "perplexity 2" in small.figures["tsne.png"].get_suptitle()


def test_command_writes_figures_and_summary_and_refuses_to_overwrite(two_runs, tmp_path):
    out = tmp_path / "report"
    assert main([str(p) for p in two_runs] + ["--out", str(out), "--labels", "MUPO", "GRPO"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["acc_at_k.png", "acc_over_steps.png", "mupo_curves.png",
                                                     "summary.md", "tsne.png"]
    summary = (out / "summary.md").read_text()
    assert "| MUPO | " in summary and "MUPO acc@1(mean of 4)" in summary and "MUPO - GRPO acc@4" in summary
    mathvista = next(line for line in summary.splitlines() if line.startswith("| MathVista |"))
    assert mathvista.split(" | ")[1:5] == ["37.5", "100.0", "50.0", "50.0"]  # MUPO acc@1, acc@4, GRPO acc@1, acc@4
    judged = summary.split("Judge-scored in the paper")[1]
    assert "| MMVet |" in judged and "| MMVet |" not in summary.split("Judge-scored in the paper")[0]
    assert "| MUPO-Thinker-7B | math_avg | acc@4 | 58.8 | main |" in summary

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([str(two_runs[0]), "--out", str(out)]) == 2
    assert err.getvalue().count("\n") == 1 and "--overwrite" in err.getvalue()
    assert main([str(two_runs[0]), "--out", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize("args,needle", [
    (["--labels", "a"], "--labels: 1 label(s) for 2"),
    (["--step", "3"], "--step 3"),
    (["--tsne-step", "2"], "--tsne-step 2"),
    (["--tsne-benchmark", "MMMU"], "--tsne-benchmark MMMU"),
])
def test_bad_flags_are_one_line_errors(two_runs, tmp_path, args, needle):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([str(p) for p in two_runs] + ["--out", str(tmp_path / "r")] + args) == 2
    assert err.getvalue().count("\n") == 1 and needle in err.getvalue(), err.getvalue()


def test_missing_run_folder_is_an_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "verl_mupo.report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "not a run folder" in out.stderr
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no validation dumps"):
        Run.load(tmp_path / "empty")


def test_logs_from_verl_tracking(two_runs):
    run = two_runs[0]
    console = parse_console_metrics((run / "mupo.log").read_text())
    exact = read_file_logger(run / "metrics.jsonl")
    assert [int(r["step"]) for r in console] == [0, 1, 2, 3, 4] == [int(r["step"]) for r in exact]
    assert console[1]["mupo/lambda"] == pytest.approx(exact[1]["mupo/lambda"]) == pytest.approx(0.4)
    merged = merge_by_step(console, exact)
    assert merged[4]["val-mupo/MathVista/acc@4"] == 1.0 and merged[2]["mupo/acc_mean"] == pytest.approx(0.2)


def test_file_logger_cut_short_and_corrupt(tmp_path):
    good = json.dumps({"step": 1, "data": {"a": 1.0, "b": "text"}})
    (tmp_path / "m.jsonl").write_text(good + "\n" + '{"step": 2, "da')  # the run is still writing
    assert read_file_logger(tmp_path / "m.jsonl") == [{"step": 1.0, "a": 1.0}]
    (tmp_path / "bad.jsonl").write_text(good + "\n{oops\n" + good + "\n")
    with pytest.raises(LogError, match="bad.jsonl:2"):
        read_file_logger(tmp_path / "bad.jsonl")


def test_validation_folder_preferred_over_rollout_dumps(two_runs, tmp_path):
    rollouts = two_runs[0] / "rollout_data"
    rollouts.mkdir()
    for step in range(1, 6):  # more files than the validation folder, no acc
        (rollouts / f"{step}.jsonl").write_text(json.dumps({"input": "q", "output": "o", "score": 0.0, "uid": "u_0_0"}) + "\n")
    run = Run.load(two_runs[0])
    assert run.val_dir.name == "val_generations" and "rollout_data" in run.notes[0]


def test_a_run_with_metric_logs_only(two_runs, tmp_path):
    logs_only = tmp_path / "logs_only"
    logs_only.mkdir()
    (logs_only / "metrics.jsonl").write_text((two_runs[0] / "metrics.jsonl").read_text())
    run = Run.load(logs_only)
    assert run.val_dir is None and run.validation_steps == [0, 4]
    table = {r.name: r for r in run.results(4)}
    assert table["MathVista"].acc == pytest.approx({k: _by_hand(VALIDATIONS["mupo"][4]["MathVista"], k) for k in (1, 2, 3, 4)})
    report = build_report([run])
    assert "tsne.png" not in report.figures and "no validation embeddings" in report.summary


def test_greedy_run_is_labelled(tmp_path, monkeypatch):
    run = Run.load(_write_run(tmp_path, "mupo", monkeypatch, sampling=Sampling(n=4, temperature=0.0)))
    report = build_report([run])
    assert "acc@1(greedy)" in report.summary and "greedy (temperature 0)" in report.summary
    line = next(line for line in _axis(report.figures["acc_at_k.png"], "MMStar").lines if line.get_gid() == "run:mupo")
    assert list(line.get_xdata()) == [1] and "greedy" in line.get_label()


# ---- e2e: a real CPU smoke run with validation (verl's loop, the hook, verl's dumps and loggers)


@pytest.fixture(scope="module")
def smoke_run(vl_run):
    """The folder of the VL smoke run the end-to-end tests share (``tests/smoke.py``: the README's
    main job as it runs by default, validation before training and every 2 steps, n=4 at temperature
    1.0, console and file logger; 6 steps)."""
    run = vl_run["work"] / "mupo"
    assert {p.name for p in run.iterdir()} >= {"metrics.jsonl", "mupo.log", "val"}, sorted(run.iterdir())
    return run


@pytest.mark.e2e
def test_smoke_run_logs_val_mupo_acc_at_k_equal_to_its_dumps(smoke_run):
    log = (smoke_run / "mupo.log").read_text(errors="replace")
    rows = {int(r["step"]): r for r in parse_console_metrics(log) if any(k.startswith("val-mupo/") for k in r)}
    assert sorted(rows) == [0, 2, 4, STEPS]
    for step, row in rows.items():
        results = evaluate(dump_counts(smoke_run / "val" / f"{step}.jsonl"))
        for r in results:
            for k in (1, 2, 3, 4):
                assert row[f"val-mupo/{r.name}/acc@{k}"] == pytest.approx(r.acc[k])
        assert 0 < row["val-mupo/pairwise_distance"] < 2
        z = read_embeddings(smoke_run / "val" / f"{step}.embeddings.npz")
        dump = [json.loads(line) for line in open(smoke_run / "val" / f"{step}.jsonl")]
        assert sorted(z["key"].tolist()) == sorted(d["uid"] for d in dump)
        acc = {d["uid"]: d["acc"] for d in dump}
        assert [acc[k] for k in z["key"]] == z["acc"].tolist()


@pytest.mark.e2e
def test_report_of_the_smoke_run(smoke_run, tmp_path):
    out = tmp_path / "report"
    # the same run twice under two labels: the multi-run figures without a second multi-minute run
    assert main([str(smoke_run), str(smoke_run), "--labels", "mupo", "again", "--out", str(out)]) == 0
    run = Run.load(smoke_run)
    report = build_report([run])
    results = {r.name: r for r in evaluate(dump_counts(smoke_run / "val" / f"{STEPS}.jsonl"))}
    (bench,) = [n for n in results if not n.endswith("_avg")]
    line = next(line for line in _axis(report.figures["acc_at_k.png"], bench).lines if line.get_gid() == "run:" + run.label)
    assert np.allclose(line.get_ydata(), [100 * results[bench].acc[k] for k in (1, 2, 3, 4)])
    lam = next(line for line in _axis(report.figures["mupo_curves.png"], "lambda").lines)
    assert list(lam.get_xdata()) == list(range(1, STEPS + 1)) and lam.get_ydata()[0] == pytest.approx(0.4)
    tsne = report.figures["tsne.png"]
    n_points = sum(len(c.get_offsets()) for ax in tsne.axes for c in ax.collections)
    assert n_points == len(read_embeddings(smoke_run / "val" / f"{STEPS}.embeddings.npz")["acc"])
    assert sorted(p.name for p in out.iterdir()) == ["acc_at_k.png", "acc_over_steps.png", "mupo_curves.png",
                                                     "summary.md", "tsne.png"]
