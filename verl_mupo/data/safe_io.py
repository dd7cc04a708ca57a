"""What the data converters share: one-line errors, reading inputs, writing outputs safely, and the
report of rejected rows.

- :class:`DataError` is a problem with an input, an output or a flag. The command lines print it as
  one line ``error: <file or flag>: <what is wrong>`` on stderr and exit with code 2, no traceback
  (:func:`run_cli`). Anything else is a bug and keeps its traceback.
- Inputs: :func:`read_parquet`, :func:`open_zip` / :func:`read_member` and :func:`require_columns`
  turn a missing, corrupt or wrongly shaped file into a :class:`DataError` naming the file.
- Outputs: an :class:`OutputSet` is the set of files one run writes together (e.g. ``train.parquet``,
  ``holdout.parquet``, ``rejected.jsonl``). It refuses to start when any member exists (unless
  ``overwrite``) or when a member is also an input (always); it writes every member to a temporary
  file first and renames them only when the whole run succeeded, and with ``overwrite`` it removes
  the members this run did not write, so no stale file from an earlier run is left beside the new ones.
  Before any work it also makes sure every member can be written (the folder is created, or refused
  with one line when a file is in the way, and a temporary file is written and removed in it), and it
  removes the temporary files that a killed earlier run left beside the set. :func:`run_cli` turns
  SIGTERM into a normal exit, so a terminated run deletes its own temporary files too.
- Values: :func:`missing_text`, :func:`missing_question` and :func:`image_problem` say why a value
  cannot be used; :func:`cell_text` turns a cell into text (floats that are whole numbers without
  ``.0``); :class:`Rejections` counts rejected rows by reason and lists them by row id.
"""

from __future__ import annotations

import glob
import io
import json
import math
import numbers
import os
import re
import signal
import sys
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

__all__ = [
    "DataError", "EXIT_DATA_ERROR", "LISTED_IDS", "run_cli", "read_parquet", "open_zip", "read_member",
    "require_columns", "OutputSet", "Rejections", "missing_text", "missing_question", "cell_text", "image_problem",
    "first_line", "IMAGE_TAG",
]

#: exit code of a command that stopped on a :class:`DataError` (argparse uses 2 for bad flags too)
EXIT_DATA_ERROR = 2
#: row ids listed per rejection reason in the printed report (all of them go to ``rejected.jsonl``)
LISTED_IDS = 100


class DataError(ValueError):
    """A problem with an input file, an output file or a flag: ``subject`` names it, ``message`` says
    what is wrong and, where it can, what to do."""

    def __init__(self, subject, message: str):
        self.subject = str(subject)
        self.message = message
        super().__init__(f"{self.subject}: {message}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can span many lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def run_cli(body: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command's body; a :class:`DataError` becomes one line on stderr and exit code 2.

    While the body runs, SIGTERM raises ``SystemExit(143)`` instead of killing the process outright,
    so an :class:`OutputSet` being written deletes its temporary files on the way out (SIGKILL
    cannot be caught: the next run removes what it leaves, see :class:`OutputSet`)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return body(argv)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DATA_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------------------- inputs


def _open_input(path: str | Path, opener, kind: str, errors: tuple, advice: str = ""):
    """``opener(path)``, with a :class:`DataError` naming the file when it is missing or ``opener``
    raises one of ``errors`` (a truncated download, another format)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "not found")
    if not path.is_file():
        raise DataError(path, "is not a file")
    try:
        return opener(path)
    except errors as e:
        raise DataError(path, f"not a readable {kind} ({first_line(e)}){advice}") from None


def read_parquet(path: str | Path):
    """``pandas.read_parquet``; a missing or unreadable file is a :class:`DataError` naming it."""
    import pandas as pd
    import pyarrow as pa

    return _open_input(path, pd.read_parquet, "parquet file", (pa.ArrowException, OSError, ValueError))


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """``zipfile.ZipFile``; a missing or corrupt archive is a :class:`DataError` naming it."""
    return _open_input(path, zipfile.ZipFile, "zip archive", (zipfile.BadZipFile, OSError, EOFError),
                       "; download it again")


def read_member(zf: zipfile.ZipFile, zip_path: str | Path, name: str) -> bytes:
    """One member's bytes; a damaged member (bad CRC, truncated data) is a :class:`DataError` naming
    the archive and the member."""
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise DataError(f"{zip_path}:{name}", f"damaged zip member ({first_line(e)}); download the archive again") from None


def require_columns(columns: Iterable[str], needed: Sequence[str], path: str | Path, what: str, hint: str = "") -> None:
    """:class:`DataError` naming the file, the missing columns, ``what`` needs them and the columns
    found, when any of ``needed`` is not among ``columns``."""
    have = list(columns)
    missing = [c for c in needed if c not in have]
    if missing:
        raise DataError(path, f"missing columns {missing} that {what} needs; found {sorted(map(str, have))}{hint}")


# ------------------------------------------------------------------------------------------ values


def missing_text(value) -> bool:
    """True for what cannot be a question or an answer: ``None``, a float NaN (or pandas' NA), an
    empty or blank string, and the string ``"nan"`` (any case; what ``str(float("nan"))`` leaves
    behind when a missing value was turned into text upstream)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    pd = sys.modules.get("pandas")  # pandas' NA exists only where pandas is loaded: never import it here
    if pd is not None and (value is pd.NA or value is pd.NaT):  # (seconds, on the grader's path)
        return True
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return False
    text = value.strip()
    return not text or text.lower() == "nan"


#: what counts as an image placeholder when deciding whether a question has any text:
#: ``<image>``, ``<image1>``, ``<image 1>``
IMAGE_TAG = re.compile(r"<image\s*\d*>")


def missing_question(value) -> bool:
    """True for what cannot be a question: :func:`missing_text`, or a text that is only image
    placeholders (:data:`IMAGE_TAG`) and blanks, e.g. ``"<image>"`` or ``" <image> <image> "``."""
    return missing_text(value) or not IMAGE_TAG.sub("", cell_text(value)).strip()


def cell_text(value) -> str:
    """A cell as text, stripped: ``""`` for :func:`missing_text`; integers (Python or numpy) as
    integers; floats that are whole numbers without ``.0`` (``12.0`` -> ``"12"``), other floats in
    positional notation, never with an exponent (``1e20`` -> ``"100000000000000000000"``,
    ``1e-07`` -> ``"0.0000001"``; the shortest digits that read back as the same float, so a
    float32 ``0.1`` is ``"0.1"``); bytes decoded as UTF-8; anything else ``str(value)``."""
    if missing_text(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        import numpy as np

        if not math.isfinite(float(value)):
            return str(float(value))
        return np.format_float_positional(value, trim="-")
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def image_problem(data) -> str | None:
    """``None`` when ``data`` are the bytes of an image PIL can open and verify, else why not."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        return "no image bytes"
    from PIL import Image

    try:
        with Image.open(io.BytesIO(bytes(data))) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001 - PIL raises many types (UnidentifiedImageError, SyntaxError, OSError ...)
        return f"not an image PIL can read ({type(e).__name__}: {first_line(e)})"
    return None


class Rejections:
    """Rows left out because their data are unusable, by reason, each with its row id."""

    def __init__(self):
        self._rows: dict[str, list[tuple[str, str | None]]] = defaultdict(list)

    def add(self, reason: str, row_id, detail: str | None = None) -> None:
        self._rows[reason].append((str(row_id), detail))

    def __len__(self) -> int:
        return sum(len(v) for v in self._rows.values())

    def ids(self, reason: str) -> list[str]:
        return [i for i, _ in self._rows.get(reason, [])]

    def summary(self, listed: int = LISTED_IDS) -> dict:
        """``{reason: {"count", "ids" (the first ``listed``)}}``, sorted by reason."""
        out = {}
        for reason in sorted(self._rows):
            ids = self.ids(reason)
            entry = {"count": len(ids), "ids": ids[:listed]}
            if len(ids) > listed:
                entry["ids_listed"] = listed
            out[reason] = entry
        return out

    def jsonl(self) -> str:
        """One JSON object per rejected row: ``{"id", "reason", "detail"}``."""
        lines = [json.dumps({"id": i, "reason": reason, "detail": detail})
                 for reason in sorted(self._rows) for i, detail in self._rows[reason]]
        return "".join(line + "\n" for line in lines)


# ----------------------------------------------------------------------------------------- outputs


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


#: the suffix of a member's temporary file: ``<name>.tmp-<pid>`` (no ``*.parquet`` glob picks it up)
TEMP_SUFFIX = ".tmp-"


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (this process counts as not running: it has
    written nothing yet when stale files are cleaned, so a file with its id is a reused id's leftover)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


class OutputSet:
    """The files one run writes together, checked before any work starts and written atomically.

    Parameters
    ----------
    members:
        every file of the set, including those this run may not write (e.g. ``holdout.parquet``
        when no holdout is asked for): with ``overwrite`` these are removed, so a rerun never leaves
        a file of an earlier run beside the new ones.
    inputs:
        the files the run reads; a member that is one of them is refused even with ``overwrite``.
    overwrite:
        replace an existing set (default: refuse when any member exists).
    flag:
        the option that names the output, for the messages (default ``--out``).

    On construction, in this order, each a :class:`DataError` naming the path: a member that is an
    input, a member that exists and is not a file, an existing member without ``overwrite``, a file
    where a folder of the set should be, a folder that cannot be created, a folder where a file
    cannot be written (a temporary file is created and removed in each). Then the temporary files
    of earlier runs of the same set whose process is gone (killed: ``<name>.tmp-<pid>``) are removed
    (:attr:`stale_removed` lists them).

    Use as a context manager around the whole run: members written with :meth:`write_parquet` /
    :meth:`write_text` go to temporary files beside their targets and are renamed into place only
    when the block ends without an exception; otherwise the temporary files are deleted, the folders
    this set created are removed when empty, and nothing of the earlier set is touched.
    """

    def __init__(self, members: Sequence[str | Path], inputs: Sequence[str | Path] = (), overwrite: bool = False,
                 flag: str = "--out"):
        self.members = [Path(m) for m in members]
        self.overwrite = bool(overwrite)
        self.flag = flag
        self._pending: dict[Path, Path] = {}
        self._created: list[Path] = []
        self.stale_removed: list[str] = []
        inputs = [Path(i) for i in inputs]
        for m in self.members:
            for i in inputs:
                if _same_file(m, i):
                    raise DataError(m, f"is also an input of this run; choose another {flag}")
            if m.exists() and not m.is_file():
                raise DataError(m, f"exists and is not a file; choose another {flag}")
        existing = [m for m in self.members if m.exists()]
        if existing and not self.overwrite:
            names = ", ".join(m.name for m in self.members)
            raise DataError(existing[0], f"exists; pass --overwrite to replace the whole output set ({names})")
        try:
            for folder in dict.fromkeys(m.parent for m in self.members):
                self._make_folder(folder)
                self._probe(folder, next(m for m in self.members if m.parent == folder))
        except DataError:
            self._remove_created()
            raise
        self._remove_stale()

    def _make_folder(self, folder: Path) -> None:
        """Create ``folder`` and the missing folders above it (remembered, to be removed on failure)."""
        missing = []
        for f in (folder, *folder.parents):
            if f.is_dir():
                break
            if f.exists() or f.is_symlink():
                raise DataError(f, f"is a file, not a folder; choose another {self.flag}")
            missing.append(f)
        for f in reversed(missing):
            try:
                f.mkdir()
            except FileExistsError:
                if not f.is_dir():
                    raise DataError(f, f"is a file, not a folder; choose another {self.flag}") from None
                continue
            except OSError as e:
                raise DataError(f, f"cannot create this output folder ({e.strerror or first_line(e)}); "
                                   f"choose another {self.flag}") from None
            self._created.append(f)

    def _probe(self, folder: Path, member: Path) -> None:
        """Create and remove a temporary file in ``folder`` (the member's own temporary name)."""
        tmp = self._temp_name(member)
        try:
            tmp.unlink(missing_ok=True)  # a leftover of an earlier process with this id
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.close(fd)
            tmp.unlink()
        except OSError as e:
            raise DataError(folder, f"cannot write in this output folder ({e.strerror or first_line(e)}); "
                                    f"choose another {self.flag}") from None

    def _remove_stale(self) -> None:
        for m in self.members:
            for t in sorted(m.parent.glob(glob.escape(m.name) + TEMP_SUFFIX + "*")):
                pid = t.name[len(m.name) + len(TEMP_SUFFIX):]
                if pid.isdigit() and not _pid_alive(int(pid)) and t.is_file():
                    try:
                        t.unlink()
                        self.stale_removed.append(str(t))
                    except OSError:
                        pass

    def _remove_created(self) -> None:
        for f in reversed(self._created):
            try:
                f.rmdir()  # only when empty
            except OSError:
                break
        self._created.clear()

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    @staticmethod
    def _temp_name(path: Path) -> Path:
        return path.with_name(f"{path.name}{TEMP_SUFFIX}{os.getpid()}")

    def _temp(self, path: str | Path) -> Path:
        path = Path(path)
        if path not in self.members:
            raise ValueError(f"{path} is not a member of this output set ({[str(m) for m in self.members]})")
        tmp = self._temp_name(path)
        self._pending[path] = tmp
        return tmp

    def write_parquet(self, path: str | Path, rows: list[dict], schema) -> None:
        """Write ``rows`` (dicts with exactly the fields of ``schema``, a ``pyarrow.Schema``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, self._temp(path))

    def write_text(self, path: str | Path, text: str) -> None:
        self._temp(path).write_text(text, encoding="utf-8")

    def commit(self) -> None:
        """Rename the written members into place; with ``overwrite``, remove the members not written."""
        for final, tmp in self._pending.items():
            os.replace(tmp, final)
        for m in self.members:
            if m not in self._pending and m.exists():
                m.unlink()
        self._pending.clear()
        self._created.clear()

    def abort(self) -> None:
        """Delete the temporary files and the folders this set created (when empty)."""
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        self._remove_created()
