"""Runs in, figures and ``summary.md`` out (:func:`build_report`, :func:`write_report`)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from verl_mupo import metric_names as M
from verl_mupo.evaluation import BenchmarkResult, Sampling, benchmark_info
from verl_mupo.report.figures import (acc_at_k_figure, acc_over_steps_figure, mupo_curves_figure, panel_order,
                                      tsne_figure)
from verl_mupo.report.paper import PAPER_RESULTS
from verl_mupo.report.runs import ReportError, Run

__all__ = ["Report", "build_report", "write_report", "check_out", "FIGURE_FILES", "SUMMARY_FILE"]

SUMMARY_FILE = "summary.md"
_SUMMARY_TITLE = "# MUPO evaluation report"

#: file name -> what it shows
FIGURE_FILES = {
    "acc_at_k.png": "acc@k against k per benchmark, one line per run, the paper's numbers as black markers",
    "acc_over_steps.png": "validation acc@1 (solid) and acc@4 (dashed) over training steps",
    "mupo_curves.png": "lambda, diversity bonus, pairwise distance (train and validation), group sizes, accuracy",
    "tsne.png": "t-SNE of the validation responses' embeddings, correct / incorrect, one panel per run",
}


@dataclass
class Report:
    """The figures (``{file name: Figure}``), the markdown summary and the numbers behind them."""

    figures: dict = field(default_factory=dict)
    summary: str = ""
    steps: dict[str, int] = field(default_factory=dict)
    results: dict[str, list[BenchmarkResult]] = field(default_factory=dict)
    tsne_steps: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _pct(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def _header(sampling: Sampling | None, k: int) -> str:
    return sampling.column(k) if sampling is not None else f"acc@{k}"


def _size(r: BenchmarkResult | None) -> str:
    """``prompts x n`` of one cell (prompts unknown, ``?``, when read from logged metrics)."""
    if r is None:
        return "-"
    return f"{r.prompts if r.prompts else '?'} x {r.n}"


def _ks(results: Sequence[BenchmarkResult]) -> list[int]:
    return [k for k in (1, 4) if any(k in r.acc for r in results)]


def _difference(runs: Sequence[Run], report: Report, samplings: dict) -> dict | None:
    """What the difference columns of two runs compare: ``{"labels", "steps", "results", "ks",
    "title"}``, or ``None`` (not two runs with validation, a greedy one, or different ks).

    Two runs shown at the same step are compared there. Shown at different steps (each run's last
    validation by default), they are compared at their latest common validation step, and the columns
    say so; with no common step the columns name both steps."""
    labels = list(report.results)
    if len(labels) != 2:
        return None
    by_label = {run.label: run for run in runs}
    a, b = (by_label[lab] for lab in labels)
    sa, sb = report.steps[a.label], report.steps[b.label]
    if sa == sb:
        steps, results, title = (sa, sb), (report.results[a.label], report.results[b.label]), f"step {sa}"
    else:
        common = sorted(set(a.validation_steps) & set(b.validation_steps))
        if common:
            s = common[-1]
            steps, results = (s, s), (a.results(s), b.results(s))
            title = f"both at step {s}"
        else:
            steps, results = (sa, sb), (report.results[a.label], report.results[b.label])
            title = f"{a.label} step {sa} vs {b.label} step {sb}, no common step"
    samp = [a.sampling(steps[0]), b.sampling(steps[1])]
    if any(x is not None and x.greedy for x in samp + [samplings[a.label], samplings[b.label]]):
        return None
    ks = _ks(results[0])
    if ks != _ks(results[1]):
        return None
    return {"labels": labels, "steps": steps, "results": results, "ks": ks, "title": title}


def _acc_table(report: Report, samplings: dict, names, diff: dict | None) -> list[str]:
    """acc@1 / acc@4 per benchmark: each run's acc columns headed with its label, sampling and step,
    then a ``prompts x n`` column per run, then the difference columns (:func:`_difference`)."""
    res = report.results
    labels = list(res)
    ks = {label: _ks(res[label]) for label in labels}
    head = ["benchmark"]
    for label in labels:
        head += [f"{label} {_header(samplings[label], k)}, step {report.steps[label]}" for k in ks[label]]
    head += [f"{label} prompts x n, step {report.steps[label]}" for label in labels]
    if diff:
        head += [f"{diff['labels'][0]} - {diff['labels'][1]} acc@{k} ({diff['title']})" for k in diff["ks"]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {label: {r.name: r for r in res[label]} for label in labels}
    dby = [{r.name: r for r in rs} for rs in diff["results"]] if diff else []
    for name in names:
        row = [name]
        for label in labels:
            r = by[label].get(name)
            row += [_pct(r.acc.get(k) if r else None) for k in ks[label]]
        row += [_size(by[label].get(name)) for label in labels]
        if diff:
            a, b = dby[0].get(name), dby[1].get(name)
            for k in diff["ks"]:
                row.append("-" if not (a and b and k in a.acc and k in b.acc) else f"{100 * (a.acc[k] - b.acc[k]):+.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _summary(runs: Sequence[Run], report: Report, samplings: dict, paper: bool) -> str:
    res = report.results
    out = [_SUMMARY_TITLE, "",
           "acc@k is the unbiased estimator 1 - C(n-c, k) / C(n, k) over the n validation samples of each prompt, "
           "averaged over prompts, in %; `acc@1(greedy)` is one response at temperature 0, `acc@1(mean of n)` the mean "
           "accuracy of n sampled responses. Averages are unweighted means over the rule-scored benchmarks of each "
           "group. Scores are rule-based (`verl_mupo.scoring`); see docs/evaluation.md.", "", "## Runs", "",
           "| run | folder | validation steps | step shown | sampling | metric logs |", "|---|---|---|---|---|---|"]
    for run in runs:
        s = samplings[run.label]
        steps = run.validation_steps
        out.append(f"| {run.label} | `{run.path}` | {', '.join(map(str, steps)) or '-'} | "
                   f"{report.steps.get(run.label, '-')} | {s.describe() if s else 'unknown (no record)'} | "
                   f"{', '.join(f'`{p.name}`' for p in run.metric_files) or '-'} |")
    all_results = [r for rs in res.values() for r in rs]
    rule = panel_order({r.name for r in all_results if r.scoring == "rule"})
    judged = panel_order({r.name for r in all_results if r.scoring == "judge"})
    diff = _difference(runs, report, samplings) if res else None
    if res:
        out += ["", "## acc@1 and acc@4", "",
                "Each run's columns are headed with its label, sampling and validation step; `prompts x n` is "
                "the number of prompts and the samples per prompt (the smallest n of a prompt) behind a run's "
                "numbers (`?`: read from logged metrics, prompt count unknown)."]
        if diff and "both at" in diff["title"]:
            out.append(f"The difference columns compare the two runs at step {diff['steps'][0]}, their latest "
                       f"common validation step, not at the steps shown ({report.steps[diff['labels'][0]]} and "
                       f"{report.steps[diff['labels'][1]]}).")
        elif diff and "no common" in diff["title"]:
            out.append("The two runs share no validation step: the difference columns subtract results of "
                       "different steps, as their headers say.")
        out += [""] + _acc_table(report, samplings, rule, diff)
        avgs = {r.name: r.members for r in all_results if r.is_average and r.members != ("logged",)}
        for name, members in avgs.items():
            out.append(f"\n{name}: mean over {', '.join(members)}.")
        if judged:
            out += ["", "### Judge-scored in the paper (reported apart)", "",
                    "The paper scored these with an LLM judge (VLMEvalKit); rules cannot match a judge on free-form "
                    "answers, so these numbers are not comparable to the paper's and stay out of the averages.", ""]
            out += _acc_table(report, samplings, judged, diff)
    if paper:
        out += ["", "## The paper's numbers (7B, drawn as black markers where the benchmark matches)", "",
                "| model | benchmark | metric | value | source |", "|---|---|---|---|---|"]
        for p in PAPER_RESULTS:
            out.append(f"| {p.model} | {p.benchmark} | {p.metric} | {100 * p.value:.1f} | {p.source} |")
        out += ["", "Sources: `main` = the main-results table (math / general averages, acc@1 and acc@4); "
                "`ablation_k` = the table on the number of groups K, whose metric the paper summary does not state "
                "(drawn at k=1). The paper used VLMEvalKit with LLM judges on some sets; see docs/evaluation.md."]
    div = []
    for run in runs:
        step = report.steps.get(run.label)
        val = run.val_metrics.get(step, {}).get(M.val_pairwise_distance()) if step is not None else None
        _, train = run.series(M.PAIRWISE_DISTANCE_MEAN)
        if val is not None or train:
            div.append(f"| {run.label} | {'-' if val is None else f'{val:.4f}'} | "
                       f"{f'{train[0]:.4f}' if train else '-'} | {f'{train[-1]:.4f}' if train else '-'} |")
    if div:
        out += ["", "## Diversity (mean pairwise 1 - cos between a prompt's responses)", "",
                "| run | validation, step shown | training, first step | training, last step |", "|---|---|---|---|"] + div
    out += ["", "## Figures", ""]
    for name, fig in report.figures.items():
        out += [f"![{name}]({name})", "", f"{FIGURE_FILES[name]}.", ""]
    if report.notes or any(run.notes for run in runs):
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [f"- {run.label}: {n}" for run in runs for n in run.notes]
    return "\n".join(out).rstrip() + "\n"


def build_report(runs: Sequence[Run], step: int | None = None, tsne_step: int | None = None,
                 tsne_benchmark: str | None = None, tsne_max_points: int = 2000, paper: bool = True,
                 seed: int = 0) -> Report:
    """All figures and the summary for ``runs``.

    Args:
        step: the validation step of the acc@k figure and tables (default: each run's last).
        tsne_step: the step of the t-SNE map (default: each run's last step with embeddings).
        tsne_benchmark: only this ``data_source`` in the t-SNE map (default: all).
        tsne_max_points: responses per run in the map (whole prompts, drawn at random beyond it).
        paper: draw and list the paper's published numbers.
        seed: of the t-SNE subsampling and fit.

    Raises:
        ReportError: a step a run lacks, or nothing to draw.
    """
    if tsne_max_points < 4:
        raise ReportError(f"--tsne-max-points {tsne_max_points}: must be >= 4")
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise ReportError(f"runs share a label ({labels}); give distinct --labels")
    report = Report()
    samplings: dict[str, Sampling | None] = {}
    acc_runs = []
    for run in runs:
        steps = run.validation_steps
        if not steps:
            report.notes.append(f"{run.label}: no validation results (set trainer.test_freq and trainer.validation_data_dir)")
            samplings[run.label] = None
            continue
        s = step if step is not None else steps[-1]
        results = run.results(s)
        report.steps[run.label] = s
        report.results[run.label] = results
        samplings[run.label] = run.sampling(s)
        acc_runs.append((run.label, s, results, samplings[run.label]))
    if acc_runs:
        report.figures["acc_at_k.png"] = acc_at_k_figure(acc_runs, paper=paper)
        report.figures["acc_over_steps.png"] = acc_over_steps_figure([(r.label, r.val_metrics) for r in runs])
    merged = []
    for run in runs:
        metrics = {s: dict(m) for s, m in run.metrics.items()}
        for s, m in run.val_metrics.items():
            metrics.setdefault(s, {}).update(m)
        merged.append((run.label, dict(sorted(metrics.items())), run.mode))
    curves = mupo_curves_figure(merged)
    if curves is not None:
        report.figures["mupo_curves.png"] = curves
    panels, pairwise = [], {}
    if tsne_benchmark is not None:  # the catalog's name, as the runs' benchmarks are (Run.names)
        tsne_benchmark = benchmark_info(tsne_benchmark).name or tsne_benchmark
    for run in runs:
        emb_steps = run.embedding_steps
        if not emb_steps:
            report.notes.append(f"{run.label}: no validation embeddings, so no t-SNE panel (saved by the val-mupo hook "
                                "when algorithm.mupo is set and trainer.validation_data_dir is)")
            continue
        s = tsne_step if tsne_step is not None else emb_steps[-1]
        z = dict(run.embeddings(s))
        z["data_source"] = np.array([run.names.get(d, d) for d in z["data_source"].tolist()], dtype=str)
        if tsne_benchmark is not None and tsne_benchmark not in set(z["data_source"].tolist()):
            raise ReportError(f"--tsne-benchmark {tsne_benchmark}: {run.label} step {s} has "
                              f"{sorted(set(z['data_source'].tolist()))}")
        report.tsne_steps[run.label] = s
        panels.append((run.label, s, z))
        key = M.val_pairwise_distance(tsne_benchmark or None)
        if key in run.val_metrics.get(s, {}):
            pairwise[run.label] = run.val_metrics[s][key]
    if panels:
        report.figures["tsne.png"] = tsne_figure(panels, tsne_benchmark, tsne_max_points, seed, pairwise)
    if not report.figures:
        raise ReportError("nothing to draw: the runs have no validation results and no mupo/* metrics")
    report.summary = _summary(runs, report, samplings, paper)
    return report


def check_out(out: str | Path, overwrite: bool = False) -> Path:
    """``out`` as a folder the report can be written into (checked before any run is read).

    Raises:
        ReportError: naming ``--out``: a file (or ``/dev/null``) is there, a non-empty folder without
            ``overwrite``, a folder that is not writable, or a path that cannot be created (a file on
            the way, no permission).
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ReportError(f"--out {out}: not a folder (a file or device is there); give a folder path")
        if any(out.iterdir()) and not overwrite:
            raise ReportError(f"--out {out}: exists and is not empty; pass --overwrite to replace the report's files there")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ReportError(f"--out {out}: the folder is not writable")
        return out
    parent = out.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ReportError(f"--out {out}: cannot be created ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportError(f"--out {out}: cannot be created (no permission to write in {parent})")
    return out


def _earlier_report_files(out: Path) -> set[str]:
    """The figure files an earlier report in ``out`` wrote: those its ``summary.md`` links (a file
    named like a figure that no earlier summary links is the user's and stays)."""
    summary = out / SUMMARY_FILE
    try:
        text = summary.read_text(encoding="utf-8") if summary.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return set()
    if not text.startswith(_SUMMARY_TITLE):
        return set()
    return set(re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)) & set(FIGURE_FILES)


def write_report(report: Report, out: str | Path, overwrite: bool = False, dpi: int = 110) -> list[Path]:
    """Save the figures (PNG) and ``summary.md`` into ``out``; returns the files written.

    With ``overwrite``, the report's own files of an earlier report there that this one does not
    write (a ``tsne.png`` when these runs have no embeddings) are removed, so the folder holds one
    report; they are listed in ``report.removed``. Only files the earlier ``summary.md`` links are
    removed; other files in ``out`` stay.

    Raises:
        ReportError: :func:`check_out`, or a file that cannot be written (naming ``--out``).
    """
    out = check_out(out, overwrite)
    stale = _earlier_report_files(out) - set(report.figures) if out.is_dir() else set()
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in report.figures.items():
            fig.savefig(out / name, dpi=dpi)
            written.append(out / name)
        (out / SUMMARY_FILE).write_text(report.summary, encoding="utf-8")
        written.append(out / SUMMARY_FILE)
        for name in sorted(stale):
            path = out / name
            if path.is_file() and not path.is_symlink():
                path.unlink()
                report.removed.append(path)
    except OSError as e:
        raise ReportError(f"--out {out}: cannot write there ({e.strerror or e}: {e.filename or out})") from None
    return written
