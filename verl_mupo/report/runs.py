"""What one training run left on disk, found and read: verl's validation dumps with the hook's
records and embeddings beside them, and the per-step metrics of its tracking backends.

A run folder is searched (three levels deep) for

- the validation folder: the folder with the most ``<step>.jsonl`` dumps (``trainer.validation_data_dir``;
  the run folder itself may be one), with ``<step>.val-mupo.json`` and ``<step>.embeddings.npz``;
- metrics: verl ``file`` logger JSONL files (every one, merged by step, newest file last: a resumed
  run opens a new one), console logs (``*.log``, ``*.txt``, ``*.out`` with ``step:N - ...`` lines)
  and TensorBoard event files. Exact values (file logger, TensorBoard) win over the console's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from verl_mupo.evaluation import (BenchmarkResult, EvaluationError, Sampling, benchmark_info, dump_counts, embeddings_path, evaluate,
                                  metrics_of, read_embeddings, read_record, step_dumps)
from verl_mupo.report.logs import LogError, is_file_logger, merge_by_step, parse_console_metrics, read_file_logger, read_tensorboard

__all__ = ["Run", "ReportError", "VAL_PREFIX"]

VAL_PREFIX = "val-mupo/"
_MAX_DEPTH = 3
_CONSOLE_SUFFIXES = (".log", ".txt", ".out")


class ReportError(ValueError):
    """Bad report input; the message is one line naming the folder, file or flag."""


def _walk(root: Path):
    """Folders under ``root`` (itself included) up to :data:`_MAX_DEPTH` levels, with their files."""
    root_depth = len(root.parts)
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).parts) - root_depth
        if depth >= _MAX_DEPTH:
            dirs[:] = []
        dirs.sort()
        yield Path(folder), sorted(files)


def _validation_score(folder: Path, files: list[str], dumps: dict[int, Path]) -> tuple[int, int, int]:
    """Rank folders of ``<step>.jsonl``: validation folders (the hook's records; rows with ``acc``)
    before rollout dumps (``trainer.rollout_data_dir`` has the same file names), then by count."""
    has_records = any(f.endswith(".val-mupo.json") for f in files)
    try:
        with open(next(iter(dumps.values())), encoding="utf-8", errors="replace") as f:
            has_acc = '"acc"' in f.readline()
    except OSError:
        has_acc = False
    return int(has_records), int(has_acc), len(dumps)


@dataclass
class Run:
    """One run's files. Build with :meth:`load`.

    Attributes:
        label: the name in legends and tables.
        path: the run folder given.
        val_dir: the validation folder, or ``None``.
        dumps: ``{step: <step>.jsonl}``.
        metrics: ``{step: {key: value}}`` from the metric logs.
        metric_files: the logs read.
        notes: what was found, skipped or assumed (shown in summary.md).
    """

    label: str
    path: Path
    val_dir: Path | None
    dumps: dict[int, Path]
    metrics: dict[int, dict[str, float]]
    metric_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path, label: str | None = None) -> "Run":
        path = Path(path)
        if not path.is_dir():
            raise ReportError(f"{path}: not a run folder (give the folder holding the validation dumps and metric logs)")
        dump_dirs, file_logs, console_logs, tb = [], [], [], False
        for folder, files in _walk(path):
            dumps = step_dumps(folder) if any(f.endswith(".jsonl") for f in files) else {}
            if dumps:
                dump_dirs.append((_validation_score(folder, files, dumps), folder))
            for f in files:
                p = folder / f
                if f.endswith(".jsonl") and not f.split(".")[0].isdigit() and is_file_logger(p):
                    file_logs.append(p)
                elif f.endswith(_CONSOLE_SUFFIXES):
                    console_logs.append(p)
                elif f.startswith("events.out.tfevents."):
                    tb = True
        notes = []
        val_dir = None
        if dump_dirs:
            dump_dirs.sort(key=lambda t: (tuple(-x for x in t[0]), str(t[1])))
            val_dir = dump_dirs[0][1]
            if len(dump_dirs) > 1:
                notes.append(f"validation dumps read from {val_dir}; also found in "
                             + ", ".join(str(d) for _, d in dump_dirs[1:]) + " (not read)")
        sources, metric_files = [], []
        for p in console_logs:
            rows = parse_console_metrics(p.read_text(encoding="utf-8", errors="replace"))
            if rows:
                sources.append(rows)
                metric_files.append(p)
        for p in sorted(file_logs, key=lambda q: q.stat().st_mtime):
            try:
                sources.append(read_file_logger(p))
            except LogError as e:
                raise ReportError(str(e)) from None
            metric_files.append(p)
        if tb:
            try:
                sources.append(read_tensorboard(path))
                metric_files.append(path / "events.out.tfevents.*")
            except LogError as e:
                notes.append(str(e))
        if val_dir is None and not sources:
            raise ReportError(f"{path}: no validation dumps (<step>.jsonl, trainer.validation_data_dir) and no metric "
                              "logs (verl file logger JSONL, console log with 'step:N - ...' lines, TensorBoard events)")
        return cls(label=label or path.resolve().name, path=path, val_dir=val_dir,
                   dumps=step_dumps(val_dir) if val_dir else {}, metrics=merge_by_step(*sources),
                   metric_files=metric_files, notes=notes)

    # ---- validation

    def record(self, step: int) -> dict | None:
        """The hook's ``<step>.val-mupo.json`` (sampling settings and metrics), if written."""
        if self.val_dir is None:
            return None
        try:
            return read_record(self.val_dir, step)
        except EvaluationError as e:
            raise ReportError(str(e)) from None

    def sampling(self, step: int) -> Sampling | None:
        rec = self.record(step)
        return rec["sampling"] if rec else None

    @property
    def validation_steps(self) -> list[int]:
        """Steps with validation results (dumps, records or logged ``val-mupo/*``)."""
        return sorted(self.val_metrics)

    def results(self, step: int) -> list[BenchmarkResult]:
        """acc@k for every k up to n per benchmark and the group averages at ``step``: from the dump,
        else from the logged ``val-mupo/*`` metrics (prompt counts unknown there: 0)."""
        if step in self.dumps:
            try:
                return evaluate(dump_counts(self.dumps[step]), ks=None)
            except EvaluationError as e:
                raise ReportError(str(e)) from None
        if step not in self.val_metrics:
            raise ReportError(f"--step {step}: {self.label} ({self.path}) has validation results for steps "
                              f"{self.validation_steps}")
        acc: dict[str, dict[int, float]] = {}
        for key, v in self.val_metrics[step].items():
            parts = key.split("/")
            if len(parts) == 3 and parts[2].startswith("acc@"):
                k = parts[2][4:].removesuffix("_greedy")
                if k.isdigit():
                    acc.setdefault(parts[1], {})[int(k)] = v
        out = []
        for name, a in sorted(acc.items()):
            info = benchmark_info(name)
            group = name.removesuffix("_avg") if name.endswith("_avg") else info.group
            out.append(BenchmarkResult(name, group, info.scoring, 0, max(a), a, ("logged",) if name.endswith("_avg") else ()))
        return out

    @cached_property
    def val_metrics(self) -> dict[int, dict[str, float]]:
        """``val-mupo/*`` per validation step: the hook's record, else the metric logs, else computed
        from the dump (acc@k only, sampling unknown)."""
        steps = set(self.dumps)
        steps |= {s for s, m in self.metrics.items() if any(k.startswith(VAL_PREFIX) for k in m)}
        out = {}
        for step in sorted(steps):
            rec = self.record(step)
            if rec is not None:
                out[step] = dict(rec["metrics"])
                continue
            logged = {k: v for k, v in self.metrics.get(step, {}).items() if k.startswith(VAL_PREFIX)}
            if logged:
                out[step] = logged
            elif step in self.dumps:
                out[step] = metrics_of(self.results(step), None, VAL_PREFIX.rstrip("/"))
        return out

    @property
    def embedding_steps(self) -> list[int]:
        if self.val_dir is None:
            return []
        return [s for s in self.dumps if embeddings_path(self.val_dir, s).exists()]

    def embeddings(self, step: int) -> dict:
        if step not in self.embedding_steps:
            raise ReportError(f"--tsne-step {step}: {self.label} has validation embeddings for steps {self.embedding_steps} "
                              "(the hook saves them with algorithm.mupo set and trainer.validation_data_dir)")
        return read_embeddings(embeddings_path(self.val_dir, step))

    # ---- training metrics

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of a logged metric."""
        pts = [(s, m[key]) for s, m in self.metrics.items() if key in m]
        return [p[0] for p in pts], [p[1] for p in pts]
