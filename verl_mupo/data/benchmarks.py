"""The paper's evaluation benchmarks: their catalog (:data:`CATALOG`, the one home of their names,
groups, splits, file names and scoring), and their conversion from the published parquet files to
verl's RL parquet, for validation during training and for the ViRL39K contamination guard.

    python -m verl_mupo.data.benchmarks mathverse /data/hf/MathVerse/testmini.parquet --out /data/mupo/eval
    python -m verl_mupo.data.benchmarks mmmu '/data/hf/MMMU/*/dev-*.parquet' '/data/hf/MMMU/*/validation-*.parquet' --out /data/mupo/eval
    python -m verl_mupo.data.benchmarks --list                      # the catalog
    python -m verl_mupo.data.benchmarks --val-files /data/mupo/eval # the nine default files, as a Hydra list

``--out`` is a ``.parquet`` path (any case) or a folder (then the catalog's file name, e.g.
``mathverse.parquet``, is used). Beside it goes ``<name>.rejected.jsonl`` (one line per rejected
row); the pair is written together, atomically, and an existing pair is only replaced with
``--overwrite``. An output that is one of the inputs is always refused.

One adapter per benchmark (the first argument), each reading the columns of its dataset card (see
:data:`CATALOG` and docs/data.md for what was checked against the card and what could not be), plus
``generic`` for any other set with a question, an answer and an image column. Rows follow
:mod:`verl_mupo.data.rows` (one schema for every output, so all files load together in verl):
``data_source`` the benchmark's canonical name, the question with one ``<image>`` per image and,
where the set lists its options in a column, the options as ``A. ...`` lines, then the training
instruction; ``ground_truth`` an option letter for multiple choice; ``extra_info.answer_type`` how the
answer reads (``choice``, ``choices``, ``yes_no``, ``number``, ``text``) and ``extra_info.scoring``
``rule`` or ``judge`` (MMVet: graded by an LLM judge with partial credit, a rule score is a stand-in
reported apart).

Rejected, counted and listed by row id (never kept), docs/data.md has the table: an id already seen
in an earlier row (``duplicate_id``), a missing question (also one that is only ``<image>``
placeholders), a missing answer (:func:`verl_mupo.data.rows.ground_truth_of`; MMMU's hidden test
answers ``?``), a missing image or one stored as a path only, image bytes PIL cannot read, and per
set: a MathVista choice answer that is not one of its choices, MMMU options that do not parse, a
HallusionBench ``gt_answer`` other than ``0``/``1`` (``0.0``/``1.0`` read as those). Rows of other
MathVerse versions are skipped and counted (``--version``, default ``Vision Only``).

Bad input (a missing or corrupt parquet, the same file given twice, missing columns, an adapter that
does not fit the file or a file that looks like another adapter's set, an existing output, an output
folder that cannot be created or written, a ``--name`` with a path in it) stops with one line
``error: <file>: <what is wrong>`` and exit code 2; flags and outputs are checked before any work.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from verl_mupo.data.rows import answer_type_of, ground_truth_of, make_row, output_schema
from verl_mupo.data.safe_io import (
    IMAGE_TAG, DataError, OutputSet, Rejections, cell_text, image_problem, missing_question, missing_text, read_parquet,
    require_columns, run_cli,
)
from verl_mupo.grading.choices import LETTER_CLASS, LETTERS  # the option letters the grader reads: one home

__all__ = [
    "Benchmark", "CATALOG", "DEFAULT_BENCHMARKS", "ALTERNATIVE_BENCHMARKS", "GROUPS", "lookup", "benchmarks_in",
    "val_files", "ADAPTERS", "card_share", "looks_like", "convert", "main",
]

GROUPS = ("math", "general")


@dataclass(frozen=True)
class Benchmark:
    """One evaluation benchmark.

    ``key``: adapter and command-line name; ``name``: canonical ``data_source`` the acc@k report groups
    by; ``group``: ``math`` or ``general`` (the paper's two averages); ``scoring``: ``rule`` (answers a
    rule grades: letters, yes/no, numbers, expressions; the authors' VLMEvalKit used an LLM only to
    extract the answer, which a ``\\boxed{}`` answer makes unnecessary) or ``judge`` (an LLM judge
    grades the answer itself, with partial credit: rules are only a stand-in, reported apart);
    ``hf_id`` / ``split``: the dataset and split the paper's numbers use; ``filename``: the file the
    recipes read from the evaluation folder; ``columns``: the columns the adapter needs (from the
    card); ``card_columns``: every column of the card (the adapter needs only ``columns``; the
    share of these a file has tells which set the file is, :func:`looks_like`); ``card``: what the
    card says about them and whether that could be checked here;
    ``image_columns``: those of ``columns`` that hold images (HF image structs, or lists of them);
    ``aliases``: other names (VLMEvalKit's); ``default``: one of the nine of the authors' README (else a
    documented alternative); ``rows``: rows of ``split`` according to the card (``None``: not checked).
    """

    key: str
    name: str
    group: str
    scoring: str
    hf_id: str
    split: str
    filename: str
    columns: tuple[str, ...]
    card: str
    card_columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ("image",)
    aliases: tuple[str, ...] = ()
    default: bool = True
    rows: int | None = None
    note: str = ""


_B = Benchmark
CATALOG: dict[str, Benchmark] = {b.key: b for b in (
    _B("mathverse", "MathVerse", "math", "rule", "AI4Math/MathVerse", "testmini", "mathverse.parquet",
       ("sample_index", "problem_version", "question", "image", "answer", "question_type", "query_wo"),
       "checked: sample_index, problem_index, problem_version, question, answer, question_type, query_wo, query_cot: "
       "string; image: image; metadata: struct{split, source, subject, subfield} (testmini, 3,940 rows = 788 "
       "problems x 5 versions with images); the card was read through its lmms-eval copy CaraJ/MathVerse-lmmseval, "
       "whose testmini_vision_only.parquet has the same columns. A later question_for_eval column is not needed",
       card_columns=("sample_index", "problem_index", "problem_version", "question", "image", "answer",
                     "question_type", "metadata", "query_wo", "query_cot"),
       aliases=("MathVerse_MINI_Vision_Only", "MathVerse_MINI"), rows=788,
       note="vision-only version: the whole question is in the image; the text is the card's query_wo"),
    _B("mathvista", "MathVista", "math", "rule", "AI4Math/MathVista", "testmini", "mathvista.parquet",
       ("pid", "question", "decoded_image", "choices", "answer", "question_type"),
       "checked: pid, question, image (a path), unit, answer, question_type, answer_type, query: string; "
       "decoded_image: image; choices: sequence of string; precision: float64; metadata: struct",
       card_columns=("pid", "question", "image", "decoded_image", "choices", "unit", "precision", "answer",
                     "question_type", "answer_type", "metadata", "query"),
       image_columns=("decoded_image",), aliases=("MathVista_MINI",), rows=1000,
       note="choice answers are given as the option text and converted to the letter; the test split has no answers"),
    _B("mathvision", "MathVision", "math", "rule", "MathLLMs/MathVision", "testmini", "mathvision.parquet",
       ("id", "question", "options", "decoded_image", "answer"),
       "checked: id, question, image (a path), answer, solution, subject: string; options: sequence of string; "
       "decoded_image: image; level: int64 (test 3,040 rows, testmini 304)",
       card_columns=("id", "question", "options", "image", "decoded_image", "answer", "solution", "level", "subject"),
       image_columns=("decoded_image",), aliases=("MathVision_MINI", "MathVision"), rows=304),
    _B("logicvista", "LogicVista", "math", "rule", "lscpku/LogicVista", "test", "logicvista.parquet",
       ("id", "question", "image", "answer"),
       "NOT checked against the card (not readable here): columns question, answer, reasoning, image, skill, "
       "broad_capability, specific_capability, imagesource, sourcelink, liscenced, id as a public loader "
       "describes them; types assumed string, image an image",
       card_columns=("question", "answer", "reasoning", "image", "skill", "broad_capability",
                     "specific_capability", "imagesource", "sourcelink", "liscenced", "id"),
       rows=448, note="options are in the question text; some answers name several letters ('A, C')"),
    _B("wemath", "WeMath", "math", "rule", "We-Math/We-Math", "testmini", "wemath.parquet",
       ("ID", "question", "option", "answer", "image_path"),
       "checked through a derived card (ttlynne/We-Math_cot_clean) and lmms-eval's loader, not the original card: "
       "ID, split, knowledge concept, question, option, answer, key, knowledge concept description: string; "
       "question number: int64; image_path: image",
       card_columns=("ID", "split", "knowledge concept", "question", "option", "answer", "image_path", "key",
                     "question number", "knowledge concept description"),
       image_columns=("image_path",),
       note="the options are one string 'A. ...; B. ...'; accuracy here is per question, not WeMath's "
            "four-dimensional strict/loose score"),
    _B("geometry3k", "Geometry3K", "math", "rule", "hiyouga/geometry3k", "test", "geometry3k.parquet",
       ("images", "problem", "answer"),
       "checked: images: sequence of image; problem, answer, ground_truth: string; id: int64; choices: sequence "
       "of string (train 2,101 / validation 300 / test 601). Earlier versions have only images, problem, answer",
       card_columns=("images", "problem", "answer", "id", "choices", "ground_truth"),
       image_columns=("images",), aliases=("geo3k", "geometry3k"), rows=601,
       note="free-form, as verl's and EasyR1's geo3k examples use it: the answer value is the ground truth"),
    _B("mmstar", "MMStar", "general", "rule", "Lin-Chen/MMStar", "val", "mmstar.parquet",
       ("index", "question", "image", "answer", "category"),
       "checked through a copy of the card (macabdul9/MMStar): index: int64; question, answer, category, "
       "l2_category: string; image: image; meta_info: struct{source, split, image_path} (1,500 rows)",
       card_columns=("index", "question", "image", "answer", "category", "l2_category", "meta_info"),
       rows=1500, note="options are in the question text"),
    _B("hallusionbench", "HallusionBench", "general", "rule", "lmms-lab/HallusionBench", "image",
       "hallusionbench.parquet",
       ("category", "subcategory", "set_id", "figure_id", "question_id", "question", "gt_answer", "image"),
       "checked: category, subcategory, visual_input, set_id, figure_id, sample_note, question_id, question, "
       "gt_answer_details, gt_answer, filename: string; image: image (split image 951 rows, non_image 178)",
       card_columns=("category", "subcategory", "visual_input", "set_id", "figure_id", "sample_note",
                     "question_id", "question", "gt_answer_details", "gt_answer", "filename", "image"),
       rows=951, note="yes/no questions: gt_answer '1' is Yes, '0' is No; accuracy here is per question (aAcc), "
                      "not the paired qAcc/fAcc"),
    _B("mmvet", "MMVet", "general", "judge", "lmms-lab/MMVet", "test", "mmvet.parquet",
       ("question_id", "image", "question", "answer"),
       "partly checked: question_id, question, answer (string), image (image) as lmms-eval reads them (218 rows); "
       "capability (read as a list) and image_source could not be checked against the card",
       card_columns=("question_id", "image", "question", "answer", "image_source", "capability"),
       rows=218, note="free-form answers graded by an LLM judge with partial credit (answers may hold <AND>/<OR>)"),
    _B("mmmu", "MMMU", "math", "rule", "MMMU/MMMU", "dev+validation", "mmmu.parquet",
       ("id", "question", "options", "answer", "question_type", "image_1"),
       "checked: id, question, options (a Python list written as a string), explanation, img_type, answer, "
       "topic_difficulty, question_type, subfield: string; image_1 .. image_7: image (one config per subject; "
       "dev 150, validation 900, test 10,500 rows with hidden answers)",
       card_columns=("id", "question", "options", "explanation", "image_1", "image_2", "image_3", "image_4",
                     "image_5", "image_6", "image_7", "img_type", "answer", "topic_difficulty", "question_type",
                     "subfield"),
       image_columns=("image_1",), aliases=("MMMU_DEV_VAL",), default=False, rows=1050,
       note="the alternative: the authors' evaluation script lists MMMU_DEV_VAL where their README lists Geometry3K"),
)}

#: the nine benchmarks of the authors' README (six math, three general)
DEFAULT_BENCHMARKS: tuple[str, ...] = tuple(k for k, b in CATALOG.items() if b.default)
#: documented alternatives (MMMU in Geometry3K's place, as the authors' evaluation script has it)
ALTERNATIVE_BENCHMARKS: tuple[str, ...] = tuple(k for k, b in CATALOG.items() if not b.default)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def lookup(name: str) -> Benchmark | None:
    """The catalog entry whose key, canonical name or alias equals ``name`` (case and punctuation ignored)."""
    key = _norm(name)
    for b in CATALOG.values():
        if key in {_norm(b.key), _norm(b.name), *(_norm(a) for a in b.aliases)}:
            return b
    return None


def benchmarks_in(group: str | None = None, include_alternatives: bool = False) -> tuple[Benchmark, ...]:
    """Catalog entries of ``group`` (``math``, ``general`` or ``None`` for both), defaults first."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS} or None, got {group!r}")
    keys = DEFAULT_BENCHMARKS + (ALTERNATIVE_BENCHMARKS if include_alternatives else ())
    return tuple(CATALOG[k] for k in keys if group is None or CATALOG[k].group == group)


def val_files(eval_dir: str | Path, keys=DEFAULT_BENCHMARKS) -> list[str]:
    """Paths of the converted benchmarks in ``eval_dir`` (the files the recipes validate on)."""
    return [str(Path(eval_dir) / CATALOG[k].filename) for k in keys]


# ------------------------------------------------------------------------------------- adapters


@dataclass
class Candidate:
    """What an adapter reads from one source row, before the common checks."""

    row_id: str
    question: object
    answer: object
    images: list
    options: list[str] = field(default_factory=list)
    show_options: bool = True
    ability: str = ""
    meta: dict = field(default_factory=dict)
    answer_type: str | None = None
    reject: tuple[str, str | None] | None = None  # (reason, detail) an adapter found


def _str_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [str(v) for v in list(value)]


_text = cell_text


def _meta(r: dict, *keys) -> dict:
    """The source fields ``keys`` of a row (made plain JSON by :func:`~verl_mupo.data.rows.make_row`)."""
    return {k: r.get(k) for k in keys if k in r}


def _records(df):
    return df.to_dict("records")


def _mathverse(df, counts: Counter, version: str = "Vision Only") -> Iterator[Candidate]:
    for r in _records(df):
        if version and version != "all" and r["problem_version"] != version:
            counts["skipped_other_version"] += 1
            continue
        question = r["question"] if not missing_text(r["question"]) else r["query_wo"]
        yield Candidate(str(r["sample_index"]), question, r["answer"], [r["image"]], ability="math",
                        meta=_meta(r, "problem_index", "problem_version", "question_type", "metadata"))


def _mathvista(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        choices = _str_list(r["choices"])
        answer, options, reject = r["answer"], [], None
        if r["question_type"] == "multi_choice" and not missing_text(answer):
            stripped = [c.strip() for c in choices]
            if str(answer).strip() in stripped:
                answer, options = LETTERS[stripped.index(str(answer).strip())], choices
            else:
                reject = ("answer_not_in_options", f"{answer!r} not in {choices}")
        yield Candidate(str(r["pid"]), r["question"], answer, [r["decoded_image"]], options=options, ability="math",
                        reject=reject, meta=_meta(r, "question_type", "answer_type", "unit", "precision", "metadata"))


def _mathvision(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        options = _str_list(r["options"])
        # options that are only the letters mean the choices are drawn in the image: nothing to list
        show = bool(options) and [o.strip() for o in options] != list(LETTERS[: len(options)])
        question = IMAGE_TAG.sub("", _text(r["question"]))
        yield Candidate(str(r["id"]), question, r["answer"], [r["decoded_image"]], options=options, show_options=show,
                        ability="math", meta=_meta(r, "level", "subject"))


def _letters(answer) -> str | None:
    """``"a, C"`` -> ``"A, C"`` (sorted); ``None`` when the answer is not a list of letters."""
    text = _text(answer).strip()
    if re.fullmatch(r"[A-Ja-j](\s*,\s*[A-Ja-j])*", text):
        return ", ".join(sorted({t.strip().upper() for t in text.split(",")}))
    return None


def _logicvista(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        answer = _letters(r["answer"]) or r["answer"]
        yield Candidate(str(r["id"]), r["question"], answer, [r["image"]], ability="logic",
                        meta=_meta(r, "skill", "broad_capability", "specific_capability"))


def _parse_option_string(text: str) -> list[str]:
    """``"A. 3; B. 4; C. 5"`` -> ``["3", "4", "5"]`` (letters in order from A); ``[]`` if it does not parse."""
    parts = re.split(rf"(?:^|;)\s*({LETTER_CLASS})\s*[.:：]\s*", text.strip())
    letters, texts = parts[1::2], [p.strip() for p in parts[2::2]]
    if parts[0].strip() or not letters or letters != list(LETTERS[: len(letters)]):
        return []
    return texts


def _wemath(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        raw = _text(r["option"])
        options = _parse_option_string(raw)
        question = _text(r["question"])
        if raw and not options:  # keep the options in the prompt as given
            question = f"{question}\n{raw}" if question else question
        yield Candidate(str(r["ID"]), question, r["answer"], [r["image_path"]], options=options, ability="math",
                        meta=_meta(r, "key", "knowledge concept", "question number", "split"))


def _geometry3k(df, counts: Counter, **_) -> Iterator[Candidate]:
    for i, r in enumerate(_records(df)):
        images = list(r["images"]) if r["images"] is not None else []
        choices = _str_list(r.get("choices"))
        answer = r["answer"]
        letter_answer = not missing_text(answer) and re.fullmatch(r"[A-D]", str(answer).strip()) and choices
        yield Candidate(str(r.get("id", i)), r["problem"], answer, images, options=choices if letter_answer else [],
                        ability="math", meta={"choices": choices, **_meta(r, "ground_truth")})


def _mmstar(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        yield Candidate(str(r["index"]), r["question"], r["answer"], [r["image"]], ability=_text(r["category"]),
                        meta=_meta(r, "category", "l2_category", "meta_info"))


_YES_NO = {"1": "Yes", "0": "No"}


def _hallusionbench(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        row_id = "_".join(str(r[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id"))
        raw, reject = r["gt_answer"], None
        answer = None if missing_text(raw) else _YES_NO.get(cell_text(raw))  # 1.0 / 0.0 read as "1" / "0"
        if not missing_text(raw) and answer is None:
            reject = ("answer_not_yes_no", f"gt_answer {raw!r} is neither '1' (Yes) nor '0' (No)")
        yield Candidate(row_id, r["question"], answer, [r["image"]], ability=_text(r["category"]), reject=reject,
                        meta=_meta(r, "category", "subcategory", "set_id", "figure_id", "question_id", "visual_input",
                                   "sample_note", "gt_answer_details"))


def _mmvet(df, counts: Counter, **_) -> Iterator[Candidate]:
    for r in _records(df):
        yield Candidate(str(r["question_id"]), r["question"], r["answer"], [r["image"]], ability="general",
                        meta=_meta(r, "capability", "image_source"))


_MMMU_IMAGE_TAG = re.compile(r"<image\s*(\d+)>")


def _mmmu(df, counts: Counter, **_) -> Iterator[Candidate]:
    image_cols = [f"image_{k}" for k in range(1, 8) if f"image_{k}" in df.columns]
    for r in _records(df):
        images = [r[c] for c in image_cols if r[c] is not None and not (isinstance(r[c], float) and math.isnan(r[c]))]
        answer = None if _text(r["answer"]).strip() == "?" else r["answer"]  # the test split hides its answers
        options, reject = [], None
        try:
            parsed = ast.literal_eval(_text(r["options"]) or "[]")
            if not isinstance(parsed, (list, tuple)):
                raise ValueError("not a list")
            options = [_MMMU_IMAGE_TAG.sub(r"[image \1]", str(o)) for o in parsed]
        except (ValueError, SyntaxError) as e:
            reject = ("bad_options", f"{r['options']!r} ({e})")
        if r["question_type"] == "multiple-choice" and not options and reject is None:
            reject = ("bad_options", "a multiple-choice question without options")
        if len(options) > len(LETTERS):
            reject = ("bad_options", f"{len(options)} options, at most {len(LETTERS)} supported")
        question = _MMMU_IMAGE_TAG.sub(r"[image \1]", _text(r["question"]))
        yield Candidate(str(r["id"]), question, answer, images, options=options, reject=reject, ability="general",
                        meta=_meta(r, "question_type", "subfield", "img_type", "topic_difficulty"))


#: adapter key -> function(dataframe, counts, **options) yielding one Candidate per source row
ADAPTERS: dict[str, Callable[..., Iterator[Candidate]]] = {
    "mathverse": _mathverse, "mathvista": _mathvista, "mathvision": _mathvision, "logicvista": _logicvista,
    "wemath": _wemath, "geometry3k": _geometry3k, "mmstar": _mmstar, "hallusionbench": _hallusionbench,
    "mmvet": _mmvet, "mmmu": _mmmu,
}
assert set(ADAPTERS) == set(CATALOG)


# ------------------------------------------------------------------------------------ conversion


def _image_bytes(value) -> tuple[bytes | None, str | None]:
    """Bytes of an image cell (HF image struct ``{"bytes", "path"}`` or raw bytes), or why there are none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, "no image"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"]), None
        if value.get("path"):
            return None, f"image stored as a path only ({value['path']}); save the dataset with images embedded"
        return None, "no image"
    return None, f"an image cell of type {type(value).__name__}, expected image bytes"


def _build(c: Candidate, name: str, scoring: str, index: int, split: str, rejected: Rejections) -> dict | None:
    """The output row of a candidate, or ``None`` after recording why it is rejected."""
    if c.reject is not None:
        rejected.add(c.reject[0], c.row_id, c.reject[1])
        return None
    if missing_question(c.question):
        rejected.add("missing_question", c.row_id, None if missing_text(c.question) else repr(c.question))
        return None
    gt = ground_truth_of(c.answer)
    if gt is None:
        rejected.add("missing_answer", c.row_id, None if c.answer is None else repr(c.answer))
        return None
    images = []
    for value in c.images or [None]:
        data, why = _image_bytes(value)
        if data is None:
            rejected.add("missing_image", c.row_id, why)
            return None
        problem = image_problem(data)
        if problem:
            rejected.add("bad_image", c.row_id, problem)
            return None
        images.append(data)
    source = c.question if isinstance(c.question, str) else cell_text(c.question)  # as given
    text = source.replace("<image>", "").strip()
    if c.options and c.show_options:
        text += "\n" + "\n".join(f"{LETTERS[k]}. {o}" for k, o in enumerate(c.options))
    return make_row(data_source=name, question="<image>" * len(images) + text, images=images, ground_truth=gt,
                    ability=c.ability or name, row_id=c.row_id, index=index, split=split,
                    source_question=source, options=c.options,
                    answer_type=c.answer_type or answer_type_of(gt),
                    scoring=scoring, meta=c.meta)


def _expand(files: list[str]) -> list[Path]:
    """Each argument is a file or a glob that matches at least one file; a file reached twice (named
    twice, or by a name and a glob, or through a link) is an error: its rows would count twice."""
    paths: list[Path] = []
    for f in files:
        if Path(f).exists() or not glob.has_magic(f):
            new = [Path(f)]
        else:
            new = [Path(m) for m in sorted(glob.glob(f))]
            if not new:
                raise DataError(f, "no file matches this pattern")
        for p in new:
            twin = next((q for q in paths if _same_path(p, q)), None)
            if twin is not None:
                raise DataError(p, f"given twice (also as {twin}); name each input file once, its rows would "
                                   "count twice")
            paths.append(p)
    return paths


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _fitting_adapters(columns) -> list[str]:
    have = set(columns)
    return [k for k, b in CATALOG.items() if set(b.columns) <= have]


def card_share(columns, key: str) -> tuple[int, int]:
    """``(present, total)``: how many of the card columns of ``CATALOG[key]`` are among ``columns``."""
    card = CATALOG[key].card_columns
    return sum(c in set(columns) for c in card), len(card)


def looks_like(columns) -> list[str]:
    """The adapters whose needed columns are all among ``columns``, the best fit first: by the share
    of the adapter's card columns present (a file of one set has all of its card's columns and
    usually only a few of another's), then by the number present."""
    def score(key):
        n, total = card_share(columns, key)
        return (n / total, n)

    return sorted(_fitting_adapters(columns), key=score, reverse=True)


def _check_set(columns, path: Path, adapter: str) -> None:
    """:class:`DataError` when the file has the columns ``adapter`` needs but fits another adapter's
    set better (e.g. MMStar with an ``id`` column also has LogicVista's four needed columns)."""
    fits = looks_like(columns)
    if adapter not in CATALOG or not fits or fits[0] == adapter:
        return
    best = fits[0]
    (n_b, t_b), (n_a, t_a) = card_share(columns, best), card_share(columns, adapter)
    if n_b / t_b <= n_a / t_a:
        return
    raise DataError(path, f"looks like a {best} file, not {adapter}: it has {n_b} of the {t_b} columns of the {best} "
                          f"card and {n_a} of the {t_a} of the {adapter} card; convert it with the {best} adapter "
                          f"(or generic)")


def _first_value(column):
    for v in column:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            if hasattr(v, "__len__") and not isinstance(v, (str, bytes, dict)):  # a list of images
                return v[0] if len(v) else None
            return v
    return None


def _read(paths: list[Path], needed, image_columns, adapter: str):
    """Read and concatenate the inputs, each checked for the columns ``adapter`` needs and for images
    (not paths or text) in its image columns."""
    import pandas as pd

    frames = []
    for p in paths:
        df = read_parquet(p)
        fits = [k for k in _fitting_adapters(df.columns) if k != adapter]
        hint = f"; the columns fit the {' / '.join(fits)} adapter" if fits else ""
        require_columns(df.columns, needed, p, f"the {adapter} adapter", hint)
        _check_set(df.columns, p, adapter)
        for col in image_columns:
            value = _first_value(df[col])
            if value is not None and not isinstance(value, (dict, bytes, bytearray)):
                raise DataError(p, f"column {col!r} holds {type(value).__name__} values (e.g. {str(value)[:40]!r}), "
                                   f"not images, so this is not a file for the {adapter} adapter{hint}")
        frames.append(df)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _output_path(out: str | Path, filename: str) -> Path:
    """``out`` when it ends in ``.parquet`` (any case), else ``out/filename``."""
    out = Path(out)
    if out.suffix.lower() == ".parquet":
        return out
    if out.is_file():
        raise DataError(out, "is a file; --out takes a folder or a path ending in .parquet")
    return out / filename


def _check_name(name: str) -> None:
    """``--name`` is a ``data_source`` and, for ``generic``, the output's file name: no path in it."""
    if not name.strip() or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise DataError("--name", f"{name!r} must be a plain name (no '/', '\\', '..' or leading '.'): it names "
                                  "the data_source and, for generic, the output file")


def convert(kind: str, files: list[str], out: str | Path, name: str | None = None, split: str | None = None,
            overwrite: bool = False, version: str = "Vision Only", question_col: str = "question",
            answer_col: str = "answer", image_col: str = "image", options_col: str | None = None,
            id_col: str | None = None) -> dict:
    """Convert one benchmark's files; returns the report the command prints.

    Parameters
    ----------
    kind: an adapter key of :data:`CATALOG`, or ``generic``.
    files: parquet files or globs (each must match a file).
    out: a ``.parquet`` path, or a folder for the catalog's file name (``generic``: ``<name>.parquet``).
    name: the ``data_source`` to write (default: the catalog's canonical name; required for ``generic``).
    split: ``extra_info.split`` (default: the catalog's split; ``test`` for ``generic``).
    overwrite: replace an existing output (default refuse).
    version: MathVerse's ``problem_version`` kept (default ``Vision Only``, as the paper; ``all`` keeps all).
    question_col, answer_col, image_col, options_col, id_col: ``generic``'s columns.

    Raises :class:`DataError` (a ``ValueError``) for a bad input, output or parameter.
    """
    if name is not None:
        _check_name(name)
    if kind == "generic":
        if not name:
            raise DataError("--name", "generic conversion needs the data_source name the report groups by")
        needed = [c for c in (question_col, answer_col, image_col, options_col, id_col) if c]
        bench = Benchmark("generic", name, "general", "rule", "", split or "test", f"{name.lower()}.parquet",
                          tuple(needed), "", image_columns=(image_col,))
    elif kind in CATALOG:
        bench = CATALOG[kind]
        needed = list(bench.columns)
    else:
        raise DataError(kind, f"unknown benchmark; known: {', '.join(CATALOG)} or generic")
    name = name or bench.name
    split = split or bench.split
    paths = _expand(files)
    target = _output_path(out, bench.filename)
    rejects_path = target.with_name(f"{target.stem}.rejected.jsonl")
    # refuses before any work (existing output, an input as output, an output folder that cannot be written)
    with OutputSet([target, rejects_path], paths, overwrite) as outputs:
        df = _read(paths, needed, bench.image_columns, kind)
        counts: Counter = Counter()
        if kind == "generic":
            candidates = (Candidate(cell_text(r[id_col]) if id_col else str(i), r[question_col], r[answer_col],
                                    [r[image_col]], options=_str_list(r[options_col]) if options_col else [])
                          for i, r in enumerate(_records(df)))
        else:
            candidates = ADAPTERS[kind](df, counts, version=version)
        rejected = Rejections()
        rows = []
        first_index: dict[str, int] = {}  # row id -> the candidate that claimed it
        for index, c in enumerate(candidates):
            if c.row_id in first_index:
                rejected.add("duplicate_id", c.row_id, f"id already in row {first_index[c.row_id]}")
                continue
            first_index[c.row_id] = index
            row = _build(c, name, bench.scoring, index, split, rejected)
            if row is not None:
                rows.append(row)
        if not rows:
            raise DataError(paths[0], f"no row left to write ({len(rejected)} rejected {rejected.summary(listed=3)}"
                                      f"{', ' + str(dict(counts)) if counts else ''})")
        outputs.write_parquet(target, rows, output_schema())
        outputs.write_text(rejects_path, rejected.jsonl())
    report = {"benchmark": name, "adapter": kind, "split": split, "scoring": bench.scoring,
              "files": [str(p) for p in paths], "rows_in": len(df), "rows_out": len(rows),
              **dict(sorted(counts.items())), "rows_rejected": len(rejected), "rejected": rejected.summary(),
              "outputs": {"parquet": str(target), "rejected": str(rejects_path)}}
    if outputs.stale_removed:
        report["stale_temp_files_removed"] = outputs.stale_removed
    return report


def _catalog_table() -> str:
    head = "| adapter | data_source | group | scoring | dataset | split | rows | file | in the paper's nine |"
    lines = [head, "|" + "---|" * 9]
    for b in CATALOG.values():
        lines.append(f"| {b.key} | {b.name} | {b.group} | {b.scoring} | {b.hf_id} | {b.split} | {b.rows or '?'} | "
                     f"{b.filename} | {'yes' if b.default else 'alternative'} |")
    return "\n".join(lines)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", nargs="?", choices=list(CATALOG) + ["generic"], help="the benchmark's adapter")
    p.add_argument("files", nargs="*", help="downloaded parquet files (globs allowed)")
    p.add_argument("--out", help="output .parquet, or a folder for the catalog's file name")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--split", help="extra_info.split (default: the catalog's)")
    p.add_argument("--version", default="Vision Only", help="MathVerse problem_version kept ('all' keeps every one)")
    p.add_argument("--name", help="data_source to write (default: the benchmark's name; required for generic)")
    p.add_argument("--question-col", default="question")
    p.add_argument("--answer-col", default="answer")
    p.add_argument("--image-col", default="image")
    p.add_argument("--options-col")
    p.add_argument("--id-col")
    p.add_argument("--list", action="store_true", help="print the catalog and exit")
    p.add_argument("--val-files", metavar="EVAL_DIR", help="print the default benchmarks' files in EVAL_DIR as a Hydra list")
    a = p.parse_args(argv)
    if a.list:
        print(_catalog_table())
        return 0
    if a.val_files:
        files = val_files(a.val_files)
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise DataError(a.val_files, f"has no {', '.join(Path(f).name for f in missing)}; convert those "
                                         "benchmarks first (python -m verl_mupo.data.benchmarks <adapter> <files> "
                                         f"--out {a.val_files})")
        print("[" + ",".join(files) + "]")
        return 0
    if not a.kind or not a.files or not a.out:
        p.error("give the benchmark, its files and --out (or --list / --val-files)")
    report = convert(a.kind, a.files, a.out, a.name, a.split, a.overwrite, a.version, a.question_col, a.answer_col,
                     a.image_col, a.options_col, a.id_col)
    print(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    """The command line; a bad input or flag prints ``error: <file or flag>: <what>`` and returns 2."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
