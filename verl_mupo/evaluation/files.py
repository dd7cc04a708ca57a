"""The one home of the validation-file layout in ``trainer.validation_data_dir``: ``<step>.jsonl``
(verl's dump), ``<step>.embeddings.npz`` and ``<step>.val-mupo.json`` (written by the validation
hook, :mod:`verl_mupo.glue.validation_metrics`). Reading a dump refuses bad rows with one line naming
``file:line``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from verl_mupo.evaluation.estimator import EvaluationError, correct_counts
from verl_mupo.evaluation.sample_keys import sample_key
from verl_mupo.evaluation.sampling import Sampling

__all__ = ["step_dumps", "resolve_dump", "read_dump", "dump_counts", "step_of", "is_step_dump", "embeddings_path",
           "record_path", "write_embeddings", "read_embeddings", "write_record", "read_record"]

_STEP_FILE = re.compile(r"^(\d+)\.jsonl$")


def step_dumps(folder: str | Path) -> dict[int, Path]:
    """``{step: path}`` of verl's ``<step>.jsonl`` validation dumps in ``folder``."""
    out = {}
    for p in Path(folder).iterdir():
        m = _STEP_FILE.match(p.name)
        if m and p.is_file():
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def resolve_dump(path: str | Path, step: int | None = None) -> Path:
    """A dump file, or the ``<step>.jsonl`` of a folder (the newest one unless ``step`` is given)."""
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path}: no such file or folder")
    if path.is_file():
        if step is not None:
            raise EvaluationError(f"--step {step}: give a folder of <step>.jsonl dumps, not the file {path}")
        return path
    dumps = step_dumps(path)
    if not dumps:
        raise EvaluationError(f"{path}: no <step>.jsonl validation dumps (set trainer.validation_data_dir)")
    if step is None:
        return dumps[max(dumps)]
    if step not in dumps:
        raise EvaluationError(f"--step {step}: {path} has dumps for steps {sorted(dumps)}")
    return dumps[step]


def read_dump(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` of every non-empty line of a verl validation JSONL."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise EvaluationError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise EvaluationError(f"{path}:{lineno}: not a JSON object")
            rows.append((lineno, row))
    if not rows:
        raise EvaluationError(f"{path}: empty validation dump")
    return rows


#: the fields of a dump row that name its benchmark, in order: verl's ``data_source`` (a scorer that
#: returns it), then ``benchmark`` (what ``pkg://verl_mupo.scoring`` returns; see its docstring)
BENCHMARK_FIELDS = ("data_source", "benchmark")


def benchmark_of(row: dict):
    """The benchmark a dump row belongs to (:data:`BENCHMARK_FIELDS`), ``None`` when it names none."""
    for key in BENCHMARK_FIELDS:
        if row.get(key) is not None:
            return row[key]
    return None


def dump_counts(path: str | Path) -> dict[str, dict[str, list[int]]]:
    """:func:`correct_counts` of one dump; one sample per session, its output with the highest index
    (verl writes every output of a multi-output session with the session's final score and counts
    the last one, as here).

    Raises:
        EvaluationError: naming ``file:line`` for a corrupt line, a row without ``uid``, ``acc`` or a
            ``data_source`` (missing, empty or blank), a ``uid`` that is not verl's sample key
            ``<prompt uid>_<session>_<index>`` (:func:`sample_key`) or that an earlier line has
            already used, or ``acc`` not in {0, 1}.
    """
    path = Path(path)
    seen: dict[str, tuple[int, str, str, object, int]] = {}
    first_line: dict[str, int] = {}
    for lineno, row in read_dump(path):
        row = {**row, "data_source": benchmark_of(row)}
        for key in ("uid", "data_source", "acc"):
            if row.get(key) is None:
                hint = {
                    "data_source": "without it every benchmark would be pooled into one row; have the reward "
                                   "function return data_source or benchmark in its dict (pkg://verl_mupo.scoring "
                                   "returns benchmark)",
                    "acc": "use reward.reward_manager.name=mupo, or a scorer returning acc in {0, 1}",
                    "uid": "not a verl validation dump",
                }[key]
                raise EvaluationError(f"{path}:{lineno}: no '{key}'; {hint}")
        source = row["data_source"]
        if not isinstance(source, str) or not source.strip():
            raise EvaluationError(f"{path}:{lineno}: data_source={source!r} is not a benchmark name; an empty name "
                                  "would pool benchmarks into one row; set data_source in the benchmark's parquet")
        uid = str(row["uid"])
        try:
            prompt, session, index = sample_key(uid)
        except ValueError as e:
            raise EvaluationError(f"{path}:{lineno}: {e}; without it the samples of a prompt cannot be told "
                                  "apart from other prompts") from None
        if uid in first_line:
            raise EvaluationError(f"{path}:{lineno}: uid {uid!r} already on line {first_line[uid]}; verl writes "
                                  "each sample once (two dumps concatenated?)")
        first_line[uid] = lineno
        if session not in seen or index > seen[session][4]:  # the session's last output, as verl counts it
            seen[session] = (lineno, source, prompt, row["acc"], index)
    rows = list(seen.values())
    return correct_counts([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                          where=lambda i: f"{path}:{rows[i][0]}")


def is_step_dump(path: str | Path) -> bool:
    """Whether ``path`` is named as verl names a validation dump: ``<step>.jsonl``."""
    return _STEP_FILE.match(Path(path).name) is not None


def step_of(dump: Path) -> int:
    """The step of a ``<step>.jsonl`` dump; an :class:`EvaluationError` for another name."""
    m = _STEP_FILE.match(dump.name)
    if not m:
        raise EvaluationError(f"{dump}: not a <step>.jsonl validation dump")
    return int(m.group(1))


def embeddings_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"{int(step)}.embeddings.npz"


def record_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"{int(step)}.val-mupo.json"


def write_embeddings(folder: str | Path, step: int, embeddings: np.ndarray, prompts: Sequence[str],
                     data_sources: Sequence[str], accs: Sequence[float], keys: Sequence[str] | None = None) -> Path:
    """Save the validation embeddings of one step (float16 unit rows, ``(n, d)``) with, per row, the
    prompt uid, the dump's sample key (``uid`` column of ``<step>.jsonl``; ``""`` if unknown), the
    ``data_source`` and ``acc`` (NaN if unknown)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    emb = np.asarray(embeddings, dtype=np.float16)
    n = emb.shape[0]
    keys = list(keys) if keys is not None else [""] * n
    if not len(prompts) == len(data_sources) == len(accs) == len(keys) == n:
        raise ValueError("embeddings, prompts, data_sources, accs and keys differ in length")
    path = embeddings_path(folder, step)
    np.savez(path, embedding=emb, prompt=np.array(prompts, dtype=str), key=np.array(keys, dtype=str),
             data_source=np.array(data_sources, dtype=str), acc=np.asarray(accs, dtype=np.float32),
             step=np.int64(step))
    return path


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays :func:`write_embeddings` saved (``embedding`` as float32).

    Raises:
        EvaluationError: one line naming the file: not a readable ``.npz`` (cut short while it was
            written, another file under its name), or without the arrays the hook writes."""
    import zipfile

    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise ValueError("a single array, not an .npz archive")
        with z:
            out = {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as e:
        raise EvaluationError(f"{path}: not a readable embeddings file ({type(e).__name__}: {e}); it may have been "
                              "cut short while the run wrote it: delete it (the report then draws no t-SNE map "
                              "for that step) or rerun that validation") from None
    missing = [k for k in ("embedding", "data_source") if k not in out]
    if missing:
        raise EvaluationError(f"{path}: no {', '.join(missing)} array in it (has {sorted(out)}); not an embeddings "
                              "file the val-mupo hook wrote")
    out["embedding"] = out["embedding"].astype(np.float32)
    return out


def write_record(folder: str | Path, step: int, sampling: Sampling, metrics: Mapping[str, float], **extra) -> Path:
    """``<step>.val-mupo.json``: the sampling settings and the ``val-mupo/*`` metrics of one validation."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = record_path(folder, step)
    data = {"step": int(step), "sampling": asdict(sampling),
            "metrics": {k: float(v) for k, v in metrics.items()}, **extra}
    path.write_text(json.dumps(data, indent=1, sort_keys=True))
    return path


def read_record(folder: str | Path, step: int) -> dict | None:
    """The record of ``step`` (``sampling`` as a :class:`Sampling`), or ``None`` if there is none.

    Raises:
        EvaluationError: one line naming the record file: not JSON, not a record, or sampling settings
            :class:`Sampling` refuses (a negative or NaN temperature, ``n`` below 1, a number written as
            a string...).
    """
    path = record_path(folder, step)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("sampling"), dict):
            raise TypeError("no 'sampling' object")
        data["sampling"] = Sampling(**data["sampling"])
    except EvaluationError as e:
        raise EvaluationError(f"{path}: {e}; not the settings of a validation (rewrite or remove the record)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as e:
        raise EvaluationError(f"{path}: not a validation record ({e})") from None
    return data
