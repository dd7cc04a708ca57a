"""Per-step metrics as verl's tracking backends write them (no matplotlib here).

- ``console``: lines ``step:N - key:value - key:value ...`` (:func:`parse_console_metrics`; Ray's
  ``(TaskRunner pid=...)`` prefix and ``np.float64(...)`` values are fine);
- ``file``: JSONL lines ``{"step": N, "data": {...}}`` (``VERL_FILE_LOGGER_PATH``, or
  ``$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl``) (:func:`read_file_logger`);
- ``tensorboard``: event files, read with the ``tensorboard`` package when it is installed
  (:func:`read_tensorboard`).

:func:`merge_by_step` joins rows into ``{step: {key: value}}``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

__all__ = ["parse_console_metrics", "read_file_logger", "is_file_logger", "read_tensorboard", "merge_by_step",
           "config_mode", "LogError"]

_NUM = re.compile(r"^(?:np\.\w+\()?([-+0-9.eEinfa]+)\)?$")
_CONSOLE_LINE = re.compile(r"step:(\d+) - (.*)$")
_ESTIMATOR = re.compile(r"'adv_estimator':\s*'([^']*)'")
_MONITOR_ONLY = re.compile(r"'monitor_only':\s*(True|False)")


class LogError(ValueError):
    """A metrics log that cannot be read; the message names the file and line."""


def parse_console_metrics(text: str) -> list[dict[str, float]]:
    """One dict per ``step:N - ...`` line, in order, with ``"step"``. Non-numeric values are skipped."""
    rows = []
    for line in text.splitlines():
        m = _CONSOLE_LINE.search(line)
        if not m:
            continue
        row: dict[str, float] = {"step": float(m.group(1))}
        for part in m.group(2).split(" - "):
            key, _, value = part.partition(":")
            num = _NUM.match(value.strip())
            if key and num:
                try:
                    row[key.strip()] = float(num.group(1))
                except ValueError:
                    pass
        rows.append(row)
    return rows


def config_mode(text: str) -> str | None:
    """What the config that verl's ``main_ppo`` prints at start-up (``pprint`` of the resolved config,
    in the console log) says MUPO's hook did: ``"mupo"`` (``'adv_estimator': 'mupo'``), ``"monitor"``
    (another estimator with ``'monitor_only': True``: the ``mupo/*`` metrics only, as
    :func:`verl_mupo.glue.run_config.mupo_mode` decides), or ``None`` (no config printed, or MUPO off)."""
    est = _ESTIMATOR.search(text)
    if est is None:
        return None
    if est.group(1) == "mupo":
        return "mupo"
    monitor = _MONITOR_ONLY.search(text)
    return "monitor" if monitor is not None and monitor.group(1) == "True" else None


def is_file_logger(path: str | Path) -> bool:
    """Whether ``path`` (a ``.jsonl`` beside a run) is a verl ``file`` logger log: its first line is
    a record ``{"step": N, "data": {...}}``. An empty file, JSON of another shape, or a first line
    still being written (one unterminated line opening with ``{``) is not.

    Raises:
        LogError: ``path:1``, when the first line is not JSON at all (random bytes, a binary file
            named ``.jsonl``): an error like a bad line inside a log, not a silent skip."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except OSError:
        return False
    if not first:
        return False
    try:
        row = json.loads(first.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        if not first.endswith(b"\n") and first.lstrip().startswith(b"{"):
            return False  # the first record, still being written
        raise LogError(f"{path}:1: not JSON ({type(e).__name__}: {str(e)[:80]}); a .jsonl in a run folder is read as "
                       "verl's file-logger log ({\"step\", \"data\"} per line): remove or move this file") from None
    return isinstance(row, dict) and isinstance(row.get("step"), int) and isinstance(row.get("data"), dict)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def read_file_logger(path: str | Path) -> list[dict[str, float]]:
    """The rows of a verl ``file`` logger JSONL (numeric values only), each with ``"step"``.

    A last line cut short (the run still writing) is skipped; a bad line elsewhere raises
    :class:`LogError` naming the file and line."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            step, data = int(rec["step"]), rec["data"]
            if not isinstance(data, dict):
                raise TypeError("data is not an object")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            if i == len(lines):
                break
            raise LogError(f"{path}:{i}: not a verl file-logger record {{\"step\", \"data\"}} ({e})") from None
        row = {"step": float(step)}
        row.update({k: v for k, v in ((k, _number(v)) for k, v in data.items()) if v is not None})
        rows.append(row)
    return rows


def read_tensorboard(folder: str | Path) -> list[dict[str, float]]:
    """Scalars of the TensorBoard event files under ``folder``, one row per step.

    Raises:
        LogError: the ``tensorboard`` package is not installed.
    """
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise LogError(f"{folder}: reading TensorBoard events needs the tensorboard package (pip install "
                       "tensorboard), or log with trainer.logger=[...,file]") from None
    rows: dict[int, dict[str, float]] = {}
    for events in sorted({p.parent for p in Path(folder).rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            for ev in acc.Scalars(tag):
                rows.setdefault(int(ev.step), {"step": float(ev.step)})[tag] = float(ev.value)
    return [rows[s] for s in sorted(rows)]


def merge_by_step(*sources: Iterable[dict[str, float]]) -> dict[int, dict[str, float]]:
    """``{step: {key: value}}`` from rows with ``"step"``; a later row (or source) wins on a key.
    Non-finite values are kept (NaN is what verl logged)."""
    out: dict[int, dict[str, float]] = {}
    for rows in sources:
        for row in rows:
            step = int(row["step"])
            cell = out.setdefault(step, {})
            cell.update({k: float(v) for k, v in row.items() if k != "step"})
    return dict(sorted(out.items()))
