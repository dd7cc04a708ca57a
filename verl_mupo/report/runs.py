"""What one training run left on disk, found and read: verl's validation dumps with the hook's
records and embeddings beside them, and the per-step metrics of its tracking backends.

A run folder is searched (three levels deep) for

- the validation folder: the folder with the hook's records, else rows with ``acc``, else the most
  ``<step>.jsonl`` dumps (``trainer.validation_data_dir``; the run folder itself may be one), with
  ``<step>.val-mupo.json`` and ``<step>.embeddings.npz``;
- metrics: verl ``file`` logger JSONL files (every one, merged by step in launch order: a resumed
  run opens a new one), console logs (``*.log``, ``*.txt``, ``*.out`` with ``step:N - ...`` lines)
  and TensorBoard event files. Exact values (file logger, TensorBoard) win over the console's.

A folder holding several runs is refused rather than merged (:func:`find_run_files` says what counts
as one run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from verl_mupo.evaluation import (BenchmarkResult, EvaluationError, Sampling, benchmark_info, dump_counts, embeddings_path, evaluate,
                                  metrics_of, read_embeddings, read_record, step_dumps)
from verl_mupo import metric_names as M
from verl_mupo.report.logs import (LogError, config_mode, is_file_logger, merge_by_step, parse_console_metrics,
                                   read_file_logger, read_tensorboard)

__all__ = ["Run", "RunFiles", "find_run_files", "ReportError", "VAL_PREFIX"]

VAL_PREFIX = M.VAL_PREFIX + "/"
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


def _is_validation(score: tuple[int, int, int]) -> bool:
    """A ``<step>.jsonl`` folder of validation results (the hook's records or rows with ``acc``), not
    ``trainer.rollout_data_dir``'s training rollouts."""
    return bool(score[0] or score[1])


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _names(root: Path, folders) -> str:
    """``'a', 'b'``: the folders relative to ``root``, shortened to their first part below ``root`` when
    that still tells them apart (``mupo_7b`` rather than ``mupo_7b/metrics``)."""
    rel = [f.relative_to(root) for f in sorted(set(folders))]
    tops = [r.parts[0] if r.parts else "." for r in rel]
    shown = tops if len(set(tops)) == len(tops) else [r.as_posix() or "." for r in rel]
    return ", ".join(repr(str(n)) for n in shown)


def _from_scratch(rows: list[dict]) -> bool:
    """Whether a log starts a run from the beginning: it logs step 0 (validation before training) or
    trains step 1. A resumed launch logs first at its checkpoint's step ``s >= 1`` (validation only at
    ``s`` when ``val_before_train``) and trains from ``s + 1``, so it never trains step 1."""
    return any(r["step"] == 0 or (r["step"] == 1 and any(not k.startswith("val") for k in r if k != "step"))
               for r in rows)


def _launch_order(logs: list[tuple[Path, list[dict]]]) -> list[tuple[Path, list[dict]]]:
    """One run's logs (one per launch) in launch order: by first step (a resumed launch starts at its
    checkpoint, later than the launch it resumes), then age; a later launch wins a step both logged."""
    return sorted(logs, key=lambda t: (min((r["step"] for r in t[1]), default=0.0), *_age(t[0])))


def _check_one_run(root: Path, logs: list[tuple[Path, list[dict]]], what: str) -> None:
    """Logs of one kind must read as the launches of one run: at most one starts from the beginning
    (:func:`_from_scratch`); two that do are two runs (or a restart from scratch beside the old log)."""
    scratch = [p for p, rows in logs if _from_scratch(rows)]
    if len(scratch) > 1:
        raise ReportError(
            f"{root}: holds {what} of {len(scratch)} runs, " + ", ".join(str(p.relative_to(root)) for p in scratch)
            + " (each starts at step 0 or 1; a resumed launch starts at its checkpoint's step); pass them as "
            "separate RUN_DIRs (move each into its own folder)")


@dataclass
class RunFiles:
    """What :func:`find_run_files` found for one run.

    Attributes:
        val_dir: the validation folder, or ``None``.
        file_logs: ``(path, rows)`` of verl ``file``-logger JSONLs in launch order (:func:`_launch_order`;
            a later launch wins a step).
        console_logs: ``(path, rows)`` of console logs with ``step:N - ...`` lines, in launch order.
        tb_dirs: folders with TensorBoard event files.
        notes: what was found and left out.
        config_mode: ``"mupo"`` / ``"monitor"`` / ``None`` from the config verl prints in a console log.
    """

    val_dir: Path | None = None
    file_logs: list = field(default_factory=list)
    console_logs: list = field(default_factory=list)
    tb_dirs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    config_mode: str | None = None


def _is_file_logger(p: Path) -> bool:
    try:
        return is_file_logger(p)
    except LogError as e:
        raise ReportError(str(e)) from None


def _age(p: Path):
    return (p.stat().st_mtime, str(p))


def find_run_files(root: str | Path) -> RunFiles:
    """The files of the ONE run under ``root`` (searched :data:`_MAX_DEPTH` levels deep).

    - A subfolder that holds both a metric log and validation dumps of its own (``<dir>/mupo`` and
      ``<dir>/grpo`` of the CPU smoke run, ``eval/greedy`` and ``eval/sampled`` of the ViRL39K recipe's
      MODE=eval) is a run of its own. When ``root`` has logs or validation dumps outside such
      subfolders, ``root`` is the run and the subfolders are left out (a note each); when it has two or
      more such subfolders and nothing else, it holds several runs and is refused.
    - Within the run: ``file``-logger JSONLs in two folders, TensorBoard events in two folders, two logs
      of one kind that both start from the beginning (:func:`_from_scratch`: two runs, not a resume), or
      two validation folders sharing two or more steps are several runs and are refused, naming what to
      give apart. Logs of one run (one per launch) are merged in launch order (:func:`_launch_order`).
    - Several validation folders otherwise (a rollout dump folder, a one-step evaluation): the one with
      the hook's records, else rows with ``acc``, else the most dumps is read; the others are noted.

    Raises:
        ReportError: several runs (the message names the subfolders or files), or an unreadable file log
            (a ``.jsonl`` whose first line is not JSON included).
    """
    root = Path(root)
    dump_dirs, file_logs, console_logs, tb = [], [], [], set()
    for folder, files in _walk(root):
        dumps = step_dumps(folder) if any(f.endswith(".jsonl") for f in files) else {}
        if dumps:
            dump_dirs.append((_validation_score(folder, files, dumps), folder, set(dumps)))
        for f in files:
            p = folder / f
            if f.endswith(".jsonl") and not f.split(".")[0].isdigit() and _is_file_logger(p):
                file_logs.append(p)
            elif f.endswith(_CONSOLE_SUFFIXES):
                text = p.read_text(encoding="utf-8", errors="replace")
                rows = parse_console_metrics(text)
                if rows:
                    console_logs.append((p, rows, config_mode(text)))
            elif f.startswith("events.out.tfevents."):
                tb.add(folder)

    # runs of their own below root: the smallest folders holding a metric log and validation dumps
    log_folders = {p.parent for p in file_logs} | {p.parent for p, *_ in console_logs} | tb
    val_folders = [folder for score, folder, _ in dump_dirs if _is_validation(score)]
    subruns = {Path(os.path.commonpath([lf, vf])) for lf in log_folders for vf in val_folders}
    subruns.discard(root)
    subruns = sorted(c for c in subruns if not any(o != c and _inside(o, c) for o in subruns))

    def owner(p: Path):
        return next((c for c in subruns if _inside(p, c)), None)

    notes = []
    rest = [f for f in list(log_folders) + val_folders if owner(f) is None]
    if rest or not subruns:
        scope = None
        for c in subruns:
            notes.append(f"{c.relative_to(root)}: another run (its own metric log and validation dumps), not read; "
                         "give it as its own RUN_DIR")
    elif len(subruns) == 1:
        scope = subruns[0]
    else:
        raise ReportError(f"{root}: holds {len(subruns)} runs ({_names(root, subruns)}: each has its own metric log "
                          "and validation dumps); pass them as separate RUN_DIRs")
    if scope is None:
        keep = lambda p: owner(p) is None  # noqa: E731
    else:
        keep = lambda p: _inside(p, scope)  # noqa: E731
    file_logs = sorted((p for p in file_logs if keep(p.parent)), key=_age)
    console_logs = sorted((c for c in console_logs if keep(c[0].parent)), key=lambda c: _age(c[0]))
    tb_dirs = sorted(f for f in tb if keep(f))
    dump_dirs = [d for d in dump_dirs if keep(d[1])]

    if len({p.parent for p in file_logs}) > 1:
        raise ReportError(f"{root}: holds verl file-logger JSONLs in {len({p.parent for p in file_logs})} folders "
                          f"({_names(root, [p.parent for p in file_logs])}), one per run; pass them as separate RUN_DIRs")
    if len(tb_dirs) > 1:
        raise ReportError(f"{root}: holds TensorBoard events in {len(tb_dirs)} folders ({_names(root, tb_dirs)}), "
                          "one per run; pass them as separate RUN_DIRs")
    files = []
    for p in file_logs:
        try:
            files.append((p, read_file_logger(p)))
        except LogError as e:
            raise ReportError(str(e)) from None
    files = _launch_order([f for f in files if f[1]])
    _check_one_run(root, files, "verl file-logger JSONLs")
    consoles = _launch_order([(p, rows) for p, rows, _ in console_logs])
    _check_one_run(root, consoles, "console logs")
    modes = [m for *_, m in console_logs if m is not None]

    vals = [d for d in dump_dirs if _is_validation(d[0])]
    for i, (_, a, steps_a) in enumerate(vals):
        for _, b, steps_b in vals[:i]:
            common = steps_a & steps_b
            if len(common) >= 2:
                raise ReportError(
                    f"{root}: holds validation dumps of 2 runs ({_names(root, [a, b])}: both validated at steps "
                    f"{sorted(common)[:4]}{'...' if len(common) > 4 else ''}); pass them as separate RUN_DIRs")
    val_dir = None
    if dump_dirs:
        dump_dirs.sort(key=lambda t: (tuple(-x for x in t[0]), str(t[1])))
        val_dir = dump_dirs[0][1]
        if len(dump_dirs) > 1:
            notes.append(f"validation dumps read from {val_dir}; also found in "
                         + ", ".join(str(d) for _, d, _ in dump_dirs[1:]) + " (not read)")
    return RunFiles(val_dir=val_dir, file_logs=files, console_logs=consoles, tb_dirs=tb_dirs, notes=notes,
                    config_mode=modes[-1] if modes else None)


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
        config_mode: ``"mupo"`` / ``"monitor"`` from the config verl printed in a console log (see :attr:`mode`).
    """

    label: str
    path: Path
    val_dir: Path | None
    dumps: dict[int, Path]
    metrics: dict[int, dict[str, float]]
    metric_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config_mode: str | None = None

    @classmethod
    def load(cls, path: str | Path, label: str | None = None) -> "Run":
        """Find and read one run's files under ``path`` (see :func:`find_run_files` for what one run is).

        Raises:
            ReportError: not a folder, nothing found, a folder holding several runs (naming the folders
                or files to give separately), or a metrics log that cannot be read.
        """
        path = Path(path)
        if not path.is_dir():
            raise ReportError(f"{path}: not a run folder (give the folder holding the validation dumps and metric logs)")
        found = find_run_files(path)
        sources, metric_files = [], []
        for p, rows in found.console_logs:
            sources.append(rows)
            metric_files.append(p)
        for p, rows in found.file_logs:
            sources.append(rows)
            metric_files.append(p)
        notes = list(found.notes)
        for folder in found.tb_dirs:
            try:
                sources.append(read_tensorboard(folder))
                metric_files.append(folder / "events.out.tfevents.*")
            except LogError as e:
                notes.append(str(e))
        val_dir = found.val_dir
        if val_dir is None and not sources:
            raise ReportError(f"{path}: no validation dumps (<step>.jsonl, trainer.validation_data_dir) and no metric "
                              "logs (verl file logger JSONL, console log with 'step:N - ...' lines, TensorBoard events)")
        return cls(label=label or path.resolve().name, path=path, val_dir=val_dir,
                   dumps=step_dumps(val_dir) if val_dir else {}, metrics=merge_by_step(*sources),
                   metric_files=metric_files, notes=notes, config_mode=found.config_mode)

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

    def _dump_results(self, step: int) -> list[BenchmarkResult]:
        try:
            return evaluate(dump_counts(self.dumps[step]), ks=None)
        except EvaluationError as e:
            raise ReportError(str(e)) from None

    def results(self, step: int) -> list[BenchmarkResult]:
        """acc@k for every k up to n per benchmark and the group averages at ``step``: from the dump,
        else from the logged ``val-mupo/*`` metrics (prompt counts unknown there: 0). Benchmarks carry
        the catalog's canonical names (:attr:`names`)."""
        if step in self.dumps:
            names = self.names
            return [replace(r, name=names.get(r.name, r.name), members=tuple(names.get(m, m) for m in r.members))
                    for r in self._dump_results(step)]
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
    def _raw_val_metrics(self) -> dict[int, dict[str, float]]:
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
                out[step] = metrics_of(self._dump_results(step), None, VAL_PREFIX.rstrip("/"))
        return out

    @cached_property
    def names(self) -> dict[str, str]:
        """``{data_source: the catalog's canonical name}`` (:func:`verl_mupo.evaluation.benchmark_info`:
        ``MathVista_MINI`` and ``mathvista`` are ``MathVista``), so runs that spell a benchmark
        differently share its row and panel. Sets the catalog lacks keep their names; two
        data_sources of this run naming one catalog entry keep theirs too (with a note), since
        merging them would pool two sets."""
        by_entry: dict[str, set[str]] = {}
        for m in self._raw_val_metrics.values():
            for key in m:
                parts = key.split("/")
                if len(parts) == 3 and not parts[1].endswith("_avg"):
                    canonical = benchmark_info(parts[1]).name
                    if canonical is not None:
                        by_entry.setdefault(canonical, set()).add(parts[1])
        out = {}
        for canonical, raw in sorted(by_entry.items()):
            if len(raw) == 1:
                out[next(iter(raw))] = canonical
            else:
                self.notes.append(f"data_sources {sorted(raw)} all name the catalog's {canonical}; kept apart")
        return out

    @cached_property
    def val_metrics(self) -> dict[int, dict[str, float]]:
        """``val-mupo/*`` per validation step: the hook's record, else the metric logs, else computed
        from the dump (acc@k only, sampling unknown); benchmarks under their canonical names (:attr:`names`)."""
        names = self.names

        def rename(key):
            parts = key.split("/")
            if len(parts) == 3 and parts[1] in names:
                parts[1] = names[parts[1]]
            return "/".join(parts)

        return {s: {rename(k): v for k, v in m.items()} for s, m in self._raw_val_metrics.items()}

    @cached_property
    def mode(self) -> str | None:
        """``"mupo"`` (MUPO's advantages), ``"monitor"`` (another estimator, e.g. the GRPO baseline with
        ``+mupo@algorithm.mupo=grpo_monitor``: the ``mupo/*`` metrics describe its batch and do not act on
        it) or ``None`` (unknown): the hook's records (``mode``), else the config printed in a console log."""
        for step in reversed(list(self.dumps)):
            rec = self.record(step)
            if rec is not None and rec.get("mode") in ("mupo", "monitor"):
                return rec["mode"]
        return self.config_mode

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
