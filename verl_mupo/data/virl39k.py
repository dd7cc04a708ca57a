"""ViRL39K release -> verl's RL parquet, with a contamination guard against the evaluation sets.

    python -m verl_mupo.data.virl39k --release /data/ViRL39K --out /data/mupo/virl39k \\
        --eval-dir /data/mupo/eval [--drop-text-only] [--max-pass-rate 0.9] [--holdout 0.01] [--overwrite]

Input: the release folder with ``39Krelease.parquet`` (columns ``question``, ``answer``, ``image``
[relative paths], ``category``, ``source``, ``qid``, ``PassRate_32BTrained``, ``PassRate_7BBase``)
and ``images.zip`` (read member by member, never extracted whole).

Output, in ``--out`` (a set written together, see :class:`verl_mupo.data.safe_io.OutputSet`):
``train.parquet``, ``holdout.parquet`` (only with ``--holdout``) and ``rejected.jsonl`` (one line per
rejected row). The run refuses to start when any of the three exists, unless ``--overwrite``, which
replaces the set and removes a ``holdout.parquet`` that this run does not write. ``--out`` must not
be the ``--eval-dir`` (the guard would read ``train.parquet`` as an evaluation set next time).

Rows follow :mod:`verl_mupo.data.rows` (one schema for all outputs): ``data_source`` ``virl39k``;
the question with exactly one ``<image>`` per image (missing placeholders added in front, extra ones
removed) and the instruction; ``ability`` the category (``virl39k`` when it is missing);
``ground_truth`` the answer without its outer ``\\boxed{}`` (:func:`verl_mupo.data.rows.ground_truth_of`);
``extra_info.id`` the qid and ``extra_info.meta`` the category, source and both pass rates (``null``
when missing).

Rejected, counted and listed by qid (never kept), docs/data.md has the table: a qid already seen in
an earlier row (``duplicate_id``: the first row keeps it, so train and holdout never share a qid), a
missing question (also one that is only ``<image>`` placeholders), a missing answer
(:func:`~verl_mupo.data.rows.ground_truth_of`), an image path not in the zip, an image cell that is
not a path or a list of paths, ``<image>`` placeholders without any image, image bytes PIL cannot
read, a pass rate that is not a number in [0, 1] or -1 (``bad_pass_rate``). Dropped on purpose and
counted: ``--drop-text-only``, the pass-rate filter, and rows matching an evaluation item
(``--keep-contaminated`` reports them but keeps them).

Contamination guard (when ``--eval-dir`` is given): a training row is dropped when its normalised
question text equals an evaluation question, or one of its images is within ``--phash-distance``
bits (64-bit difference hash) of an evaluation image. Evaluation sets are the parquets of
``python -m verl_mupo.data.benchmarks`` (``prompt`` and ``images`` columns) in that folder.

Bad input (a missing or corrupt parquet or zip, missing columns, a flag out of range, an existing
output, an output folder that cannot be created or written) stops the run with one line
``error: <file or flag>: <what is wrong>`` and exit code 2; flags and outputs are checked before any work.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from verl_mupo._arrays import is_number
from verl_mupo.data.rows import (
    INSTRUCTION, fix_placeholders, ground_truth_of, make_row, output_schema, strip_outer_boxed,
)
from verl_mupo.data.safe_io import (
    DataError, OutputSet, Rejections, cell_text, image_problem, missing_question, missing_text, open_zip, read_member,
    read_parquet, require_columns, run_cli,
)

DATA_SOURCE = "virl39k"
RELEASE_FILE = "39Krelease.parquet"
IMAGES_FILE = "images.zip"
RELEASE_COLUMNS = ("question", "answer", "image", "category", "source", "qid", "PassRate_32BTrained", "PassRate_7BBase")
#: the files of one run's output set
OUTPUT_FILES = {"train": "train.parquet", "holdout": "holdout.parquet", "rejected": "rejected.jsonl"}
#: an evaluation question text shared by this many rows of one set is generic (not used for matching)
GENERIC_QUESTION_ROWS = 5

__all__ = ["convert", "strip_outer_boxed", "fix_placeholders", "normalise_question", "dhash", "hamming", "min_hamming",
           "INSTRUCTION", "OUTPUT_FILES", "main"]


def normalise_question(text: str) -> str:
    """Lower-case alphanumerics only, without image placeholders and the instruction."""
    text = text.replace(INSTRUCTION, "").replace("<image>", " ")
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def dhash(image_bytes: bytes, size: int = 8) -> int:
    """64-bit difference hash of an image (robust to re-encoding and resizing)."""
    from PIL import Image

    with Image.open(io.BytesIO(image_bytes)) as im:
        g = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def min_hamming(h: int, hashes: np.ndarray) -> int:
    """Smallest bit distance from ``h`` to any of ``hashes`` (uint64 array, shape ``(n,)``), vectorised."""
    xor = np.bitwise_xor(hashes, np.uint64(h))
    return int(np.unpackbits(xor.view(np.uint8)).reshape(-1, 64).sum(axis=1).min())


def _eval_index(eval_dir: Path) -> tuple[set[str], list[int], list[Path], int]:
    """Normalised questions and image hashes of every evaluation parquet in ``eval_dir``, and how many
    question texts were left out as generic: a text shared by :data:`GENERIC_QUESTION_ROWS` or more
    rows of one set is an instruction (MathVerse's vision-only items all read "According to the
    question shown in the image ..."), not an item, and would drop unrelated training rows; those
    items are still matched by their images."""
    questions: set[str] = set()
    generic = 0
    hashes: list[int] = []
    if not eval_dir.is_dir():
        raise DataError(eval_dir, "not a folder (--eval-dir)")
    files = sorted(eval_dir.glob("*.parquet"))
    if not files:
        raise DataError(eval_dir, "holds no *.parquet evaluation sets; convert them with python -m verl_mupo.data.benchmarks (--eval-dir)")
    for f in files:
        df = read_parquet(f)
        require_columns(df.columns, ["prompt"], f, "the contamination guard (--eval-dir)",
                        "; --eval-dir must hold only outputs of python -m verl_mupo.data.benchmarks")
        texts = Counter(normalise_question(" ".join(m["content"] for m in prompt if m.get("role") == "user"))
                        for prompt in df["prompt"])
        generic += sum(1 for n in texts.values() if n >= GENERIC_QUESTION_ROWS)
        questions.update(t for t, n in texts.items() if n < GENERIC_QUESTION_ROWS and t)
        if "images" in df.columns:
            for k, imgs in enumerate(df["images"]):
                for img in imgs if imgs is not None else []:
                    data = img.get("bytes") if isinstance(img, dict) else img
                    if data:
                        try:
                            hashes.append(dhash(data))
                        except Exception as e:  # noqa: BLE001 - PIL raises many types
                            raise DataError(f, f"row {k}: image bytes are not an image ({type(e).__name__}); convert the set again") from None
    return questions, hashes, files, generic


def _check_range(flag: str, value, low: float, high: float, open_low: bool = False, open_high: bool = False,
                 integer: bool = False) -> None:
    """:class:`DataError` naming ``flag`` when ``value`` is not a number (an integer when ``integer``)
    within the bounds."""
    if value is None:
        return
    ok = is_number(value) and not math.isnan(value)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        what = "an integer" if integer else "a number"
        if math.isinf(high):
            raise DataError(flag, f"must be {what} {'>' if open_low else '>='} {low:g}, got {value!r}")
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise DataError(flag, f"must be {what} in {lo}{low:g}, {high:g}{hi}, got {value!r}")


def _find_member(path: str, names: set[str]) -> str | None:
    if path in names:
        return path
    return next((n for n in (f"images/{Path(path).name}", Path(path).name) if n in names), None)


def _image_paths(value) -> list[str]:
    """The image paths of a release row: a list of paths, one path, or none (``None``, NaN, an empty
    list or string). ``ValueError`` saying why for anything else (a number, a list holding ``None``)."""
    if value is None or missing_text(value) and not isinstance(value, (list, tuple, np.ndarray)):
        return []
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, (list, tuple, np.ndarray)):
        paths = list(value)
        bad = next((p for p in paths if not isinstance(p, str) or not p.strip()), "")
        if bad != "":
            raise ValueError(f"image list {[str(p) for p in paths]} holds {bad!r}, not a path")
        return [p.strip() for p in paths]
    raise ValueError(f"image cell of type {type(value).__name__} ({str(value)[:40]!r}), expected a list of paths")


#: the pass rate that marks a row the release did not annotate
UNANNOTATED = -1.0


def _pass_rate(value) -> float | None:
    """A pass rate cell: a number in [0, 1], :data:`UNANNOTATED` (-1), or ``None`` when missing (None,
    NaN: treated as unannotated). ``ValueError`` for anything else (text that is not a number,
    other values)."""
    if missing_text(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a pass rate")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if math.isnan(rate):
        return None
    if not (0.0 <= rate <= 1.0 or rate == UNANNOTATED):
        raise ValueError(f"{value!r} is neither in [0, 1] nor {UNANNOTATED:g} (unannotated)")
    return rate


def _check_flags(holdout, min_pass_rate, max_pass_rate, phash_distance, seed) -> None:
    _check_range("--holdout", holdout, 0.0, 1.0, open_low=True, open_high=True)
    _check_range("--min-pass-rate", min_pass_rate, 0.0, 1.0)
    _check_range("--max-pass-rate", max_pass_rate, 0.0, 1.0)
    _check_range("--phash-distance", phash_distance, 0, 64, integer=True)
    _check_range("--seed", seed, 0, math.inf, integer=True)
    if min_pass_rate is not None and max_pass_rate is not None and min_pass_rate > max_pass_rate:
        raise DataError("--min-pass-rate", f"{min_pass_rate} is above --max-pass-rate {max_pass_rate}")


def convert(release: str | Path, out: str | Path, eval_dir: str | Path | None = None, drop_text_only: bool = False,
            min_pass_rate: float | None = None, max_pass_rate: float | None = None, holdout: float | None = None,
            seed: int = 0, phash_distance: int = 4, dedupe: bool = True, overwrite: bool = False) -> dict:
    """Convert the release; returns the report the command prints.

    Parameters
    ----------
    release: folder with ``39Krelease.parquet`` and ``images.zip``.
    out: output folder (created); see :data:`OUTPUT_FILES`.
    eval_dir: evaluation parquets for the contamination guard (recommended; default none).
    drop_text_only: drop rows without images (default keep).
    min_pass_rate, max_pass_rate: keep rows whose ``PassRate_7BBase`` is within, in [0, 1] (-1,
        unannotated, and a missing value are always kept; default no bound).
    holdout: fraction held out as ``holdout.parquet``, in (0, 1); ``None`` (default) for none. At
        least one row is held out and at least one is left for training.
    seed: seed of the holdout draw, an integer >= 0 (default 0).
    phash_distance: image-match threshold in bits of the 64-bit difference hash, an integer 0..64 (default 4).
    dedupe: drop rows that match an evaluation item (default); ``False`` reports and keeps them.
    overwrite: replace an existing output set (default refuse).

    Every flag, input path and output is checked before any work. Raises :class:`DataError` (a
    ``ValueError``) for a bad input, output or parameter.
    """
    _check_flags(holdout, min_pass_rate, max_pass_rate, phash_distance, seed)
    release, out = Path(release), Path(out)
    table_path, zip_path = release / RELEASE_FILE, release / IMAGES_FILE
    if not release.is_dir():
        raise DataError(release, "not a folder; --release takes the folder with 39Krelease.parquet and images.zip")
    inputs = [table_path, zip_path]
    if eval_dir is not None:
        eval_dir = Path(eval_dir)
        if out.resolve() == eval_dir.resolve():
            raise DataError(out, "is the --eval-dir; the contamination guard would read train.parquet as an evaluation set")
        inputs += sorted(eval_dir.glob("*.parquet")) if eval_dir.is_dir() else []
    if out.exists() and not out.is_dir():
        raise DataError(out, "is a file; --out takes a folder")
    members = {k: out / v for k, v in OUTPUT_FILES.items()}
    # refuses before any work (existing set, an input as output, an output folder that cannot be written)
    with OutputSet(list(members.values()), inputs, overwrite) as outputs:
        report = _convert(table_path, zip_path, eval_dir, drop_text_only, min_pass_rate, max_pass_rate, holdout,
                          seed, phash_distance, dedupe, outputs, members)
    if outputs.stale_removed:
        report["stale_temp_files_removed"] = outputs.stale_removed
    return report


def _convert(table_path: Path, zip_path: Path, eval_dir, drop_text_only, min_pass_rate, max_pass_rate, holdout,
             seed, phash_distance, dedupe, outputs: OutputSet, members: dict) -> dict:
    table = read_parquet(table_path)
    if "PassRate_7BBase" not in table.columns and "PassRate_7BUntrained" in table.columns:  # an older alias
        table = table.rename(columns={"PassRate_7BUntrained": "PassRate_7BBase"})
    require_columns(table.columns, RELEASE_COLUMNS, table_path, "the ViRL39K converter", "; is this the ViRL39K release?")
    eval_q, eval_h, eval_files, generic = (set(), [], [], 0)
    if eval_dir is not None:
        eval_q, eval_h, eval_files, generic = _eval_index(eval_dir)
    eval_h_arr = np.array(eval_h, dtype=np.uint64) if eval_h else None
    counts: Counter = Counter(rows_in=len(table), eval_sets=len(eval_files))
    if generic:
        counts["eval_generic_questions_ignored"] = generic
    rejected = Rejections()
    rows = []
    first_row: dict[str, int] = {}  # qid -> the row that claimed it
    with open_zip(zip_path) as zf:
        names = set(zf.namelist())
        for i, r in enumerate(table[list(RELEASE_COLUMNS)].to_dict("records")):
            qid = cell_text(r["qid"]) or f"row {i}"
            if qid in first_row:
                rejected.add("duplicate_id", qid, f"qid already in row {first_row[qid]}")
                continue
            first_row[qid] = i
            if missing_question(r["question"]):
                rejected.add("missing_question", qid, None if missing_text(r["question"]) else repr(r["question"]))
                continue
            answer = ground_truth_of(r["answer"])
            if answer is None:
                rejected.add("missing_answer", qid, None if r["answer"] is None else repr(r["answer"]))
                continue
            try:
                paths = _image_paths(r["image"])
            except ValueError as e:
                rejected.add("missing_image", qid, str(e))
                continue
            source_question = r["question"] if isinstance(r["question"], str) else cell_text(r["question"])
            if not paths and "<image>" in source_question:
                rejected.add("missing_image", qid, f"{source_question.count('<image>')} <image> placeholders, no image")
                continue
            if not paths and drop_text_only:
                counts["dropped_text_only"] += 1
                continue
            try:
                rate = _pass_rate(r["PassRate_7BBase"])
                rate_32b = _pass_rate(r["PassRate_32BTrained"])
            except ValueError as e:
                rejected.add("bad_pass_rate", qid, str(e))
                continue
            if rate is not None and rate >= 0 and ((min_pass_rate is not None and rate < min_pass_rate) or
                                                   (max_pass_rate is not None and rate > max_pass_rate)):
                counts["dropped_pass_rate"] += 1
                continue
            found = [_find_member(p, names) for p in paths]
            if None in found:
                rejected.add("missing_image", qid, str(paths[found.index(None)]))
                continue
            images = [read_member(zf, zip_path, m) for m in found]
            problems = [image_problem(b) for b in images]
            bad = next((k for k, p in enumerate(problems) if p), None)
            if bad is not None:
                rejected.add("bad_image", qid, f"{found[bad]}: {problems[bad]}")
                continue
            question, repair = fix_placeholders(source_question, len(images))
            if repair:
                counts[f"repaired_placeholders_{repair}"] += 1
            match = None
            if eval_q and normalise_question(question) in eval_q:
                match = "question"
            elif eval_h_arr is not None and images:
                hs = [dhash(b) for b in images]
                if any(min_hamming(h, eval_h_arr) <= phash_distance for h in hs):
                    match = "image"
            if match:
                counts[f"{'dropped' if dedupe else 'kept'}_eval_{match}_match"] += 1
                if dedupe:
                    continue
            category = cell_text(r["category"])
            rows.append(make_row(
                data_source=DATA_SOURCE, question=question, images=images, ground_truth=answer,
                ability=category or DATA_SOURCE, row_id=qid, index=i, split="train", source_question=source_question,
                meta={"category": category or None, "source": cell_text(r["source"]) or None,
                      "pass_rate_32b_trained": rate_32b, "pass_rate_7b_base": rate},
            ))
    if not rows:
        dropped = {k: v for k, v in counts.items() if k.startswith("dropped")}
        raise DataError(table_path, f"no row left to write ({len(rejected)} rejected {rejected.summary(listed=3)}, dropped {dropped})")
    n_hold = 0
    if holdout is not None:
        if len(rows) < 2:
            raise DataError("--holdout", f"needs at least 2 rows, {len(rows)} left after filtering")
        n_hold = min(max(1, int(round(holdout * len(rows)))), len(rows) - 1)
    # one row per qid (duplicates are rejected above), so train and holdout never share a qid
    order = np.random.default_rng(int(seed)).permutation(len(rows))
    hold_idx = set(order[:n_hold].tolist())
    train, hold = [], []
    for j, row in enumerate(rows):
        if j in hold_idx:
            hold.append(row | {"extra_info": row["extra_info"] | {"split": "holdout"}})
        else:
            train.append(row)
    outputs.write_parquet(members["train"], train, output_schema())
    if hold:
        outputs.write_parquet(members["holdout"], hold, output_schema())
    outputs.write_text(members["rejected"], rejected.jsonl())
    counts.update(rows_train=len(train), rows_holdout=len(hold))
    report = dict(sorted(counts.items()))
    report["rejected"] = rejected.summary()
    report["rows_rejected"] = len(rejected)
    report["outputs"] = {k: str(members[k]) for k in OUTPUT_FILES if k != "holdout" or hold}
    return report


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", required=True, help="folder with 39Krelease.parquet and images.zip")
    p.add_argument("--out", required=True, help="output folder (train.parquet, holdout.parquet, rejected.jsonl)")
    p.add_argument("--eval-dir", help="evaluation parquets to deduplicate against (recommended)")
    p.add_argument("--keep-contaminated", action="store_true", help="report matches but keep them")
    p.add_argument("--drop-text-only", action="store_true")
    p.add_argument("--min-pass-rate", type=float, help="keep PassRate_7BBase >= this, in [0, 1]")
    p.add_argument("--max-pass-rate", type=float, help="keep PassRate_7BBase <= this, in [0, 1]")
    p.add_argument("--holdout", type=float, help="fraction held out as holdout.parquet, in (0, 1); omit for none")
    p.add_argument("--phash-distance", type=int, default=4, help="image match threshold in bits, 0..64 (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the holdout draw, an integer >= 0 (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output set")
    a = p.parse_args(argv)
    report = convert(a.release, a.out, a.eval_dir, a.drop_text_only, a.min_pass_rate, a.max_pass_rate, a.holdout,
                     a.seed, a.phash_distance, dedupe=not a.keep_contaminated, overwrite=a.overwrite)
    print(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    """The command line; a bad input or flag prints ``error: <file or flag>: <what>`` and returns 2."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
