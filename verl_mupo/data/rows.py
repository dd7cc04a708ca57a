"""The rows both converters write: verl's RL parquet layout, one schema for every output.

Every ``train.parquet``, ``holdout.parquet`` and benchmark parquet has exactly :func:`output_schema`,
so any of them can be listed together in ``data.val_files`` (verl's ``RLHFDataset`` concatenates the
files with ``datasets.concatenate_datasets``, which refuses files whose columns differ):

- ``data_source`` (string): ``virl39k`` or the benchmark's canonical name (the acc@k report groups by it);
- ``prompt`` (list of ``{role, content}``): one user turn, the question with exactly one ``<image>``
  per image, then :data:`INSTRUCTION`;
- ``images`` (list of ``{bytes}``): the encoded images, in placeholder order;
- ``ability`` (string): the category or the benchmark's group;
- ``reward_model`` (``{style, ground_truth}``): ``style`` is ``"rule"``, ``ground_truth`` the answer
  (an option letter for multiple choice);
- ``extra_info``: ``id`` (the row id of the source: qid, pid, index ...), ``index`` (row number in the
  input), ``split``, ``question`` (the source question, as given), ``options`` (option texts, A first;
  empty when the options are only in the question or the image), ``answer_type`` (see
  :func:`answer_type_of`), ``scoring`` (``"rule"``, or ``"judge"`` when the benchmark is scored by an
  LLM judge and a rule score is only a stand-in) and ``meta`` (a JSON object of the source's other
  fields, e.g. ViRL39K's pass rates; strict JSON: a missing value is ``null``, never ``NaN``).
"""

from __future__ import annotations

import functools
import json
import math
import re

from verl_mupo.data.safe_io import cell_text, missing_text
from verl_mupo.grading.choices import LETTER_CLASS  # an option letter the grader reads

__all__ = [
    "INSTRUCTION", "output_schema", "ANSWER_TYPES", "SCORING", "MISSING_ANSWER_WORDS", "strip_outer_boxed",
    "ground_truth_of", "fix_placeholders", "answer_type_of", "plain", "make_row",
]

INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."
)
#: ``extra_info.answer_type`` values: how the ground truth reads, so how exact a rule grade is
ANSWER_TYPES = ("choice", "choices", "yes_no", "number", "text")
#: ``extra_info.scoring`` values
SCORING = ("rule", "judge")


@functools.lru_cache(maxsize=None)
def output_schema():
    """The ``pyarrow.Schema`` of every output (built on first use, so importing this module needs no pyarrow)."""
    import pyarrow as pa

    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([
            ("id", pa.string()), ("index", pa.int64()), ("split", pa.string()), ("question", pa.string()),
            ("options", pa.list_(pa.string())), ("answer_type", pa.string()), ("scoring", pa.string()),
            ("meta", pa.string()),
        ])),
    ])


def _strip_one_boxed(s: str) -> str:
    m = re.fullmatch(r"\\boxed\s*\{(.*)\}", s, flags=re.DOTALL)
    if m:
        inner, depth = m.group(1), 0
        for ch in inner:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                return s
        if depth == 0:
            return inner.strip()
    return s


def strip_outer_boxed(answer: str) -> str:
    """``\\boxed{A}`` -> ``A`` (balanced braces), repeatedly (``\\boxed{\\boxed{A}}`` -> ``A``);
    other text unchanged, stripped."""
    s = str(answer).strip()
    while (inner := _strip_one_boxed(s)) != s:
        s = inner
    return s


#: answers that are a missing value written as text (compared case-insensitively, after unboxing)
MISSING_ANSWER_WORDS = ("nan", "none", "null")
_WRAPPER = re.compile(r"\\[A-Za-z]+\s*(?=\{)")  # \text{, \mathrm{, \frac{ ...: a command taking an argument
_LAYOUT = re.compile(r"[{}$\s]|\\[,;:! ]")  # braces, math delimiters, blanks and LaTeX spacing


def ground_truth_of(answer) -> str | None:
    """The ground truth written for an answer cell, or ``None`` when the answer is missing.

    The cell as text (:func:`~verl_mupo.data.safe_io.cell_text`: ``12.0`` -> ``"12"``), the outer
    ``\\boxed{}`` removed repeatedly (:func:`strip_outer_boxed`). Missing: :func:`missing_text`
    (``None``, NaN, blank, ``nan``), a text with nothing left once LaTeX commands that take an
    argument, braces, ``$`` and blanks are removed (``\\boxed{}``, ``\\boxed{\\boxed{}}``,
    ``\\text{}``, ``\\frac{}{}``; ``\\pi`` is kept), and the words :data:`MISSING_ANSWER_WORDS`
    (``None``, ``null``, ``nan`` in any case, also inside such wrappers): what a missing value
    becomes when it is turned into text upstream, and what a model answering "None" would match."""
    if missing_text(answer):
        return None
    text = strip_outer_boxed(cell_text(answer))
    core = _LAYOUT.sub("", _WRAPPER.sub("", text))
    if not core or core.lower() in MISSING_ANSWER_WORDS:
        return None
    return text


def fix_placeholders(question: str, num_images: int) -> tuple[str, str | None]:
    """Exactly ``num_images`` ``<image>`` placeholders. Returns ``(text, repair)`` where repair is
    ``None``, ``"added"`` (missing ones put in front) or ``"removed"`` (extra ones dropped from the end)."""
    count = question.count("<image>")
    if count == num_images:
        return question, None
    if count < num_images:
        return "<image>" * (num_images - count) + question, "added"
    parts = question.split("<image>")
    kept = "<image>".join(parts[: num_images + 1]) + "".join(parts[num_images + 1 :])
    return kept, "removed"


_NUMBER = re.compile(r"[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?%?")


def answer_type_of(ground_truth: str) -> str:
    """How a ground truth reads, which says how exact a rule grade of it is:

    - ``"choice"``: one option letter A-J (exact);
    - ``"choices"``: several letters, ``"A, C"`` (exact: the same set);
    - ``"yes_no"``: ``Yes`` / ``No`` (exact);
    - ``"number"``: a number, e.g. ``12``, ``-0.5``, ``1,000``, ``45%`` (exact up to the scorer's tolerance);
    - ``"text"``: anything else (an expression, a word, a phrase): rules compare normalised strings
      and mathematical equivalence, close for expressions, approximate for free-form words.
    """
    gt = str(ground_truth).strip()
    if re.fullmatch(LETTER_CLASS, gt):
        return "choice"
    if re.fullmatch(rf"{LETTER_CLASS}(\s*,\s*{LETTER_CLASS})+", gt):
        return "choices"
    if gt.lower() in ("yes", "no"):
        return "yes_no"
    if gt and any(ch.isdigit() for ch in gt) and _NUMBER.fullmatch(gt):
        return "number"
    return "text"


def plain(value):
    """A value as plain JSON data (for ``extra_info.meta``): numpy arrays and scalars as Python,
    nested in lists and dicts; NaN, infinities and bytes as ``None``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray)) or missing_text(value) and not isinstance(value, str):
        return None
    return value


def make_row(*, data_source: str, question: str, images: list[bytes], ground_truth: str, ability: str, row_id,
             index: int, split: str, source_question: str, options: list[str] | None = None,
             answer_type: str | None = None, scoring: str = "rule", meta: dict | None = None) -> dict:
    """One output row (:func:`output_schema`). ``question`` is the prompt text before the instruction,
    with one ``<image>`` per image already in place."""
    if question.count("<image>") != len(images):
        raise ValueError(f"{question.count('<image>')} <image> placeholders for {len(images)} images in row {row_id}")
    if scoring not in SCORING:
        raise ValueError(f"scoring must be one of {SCORING}, got {scoring!r}")
    answer_type = answer_type or answer_type_of(ground_truth)
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}")
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": f"{question} {INSTRUCTION}"}],
        "images": [{"bytes": bytes(b)} for b in images],
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": {
            "id": str(row_id), "index": int(index), "split": split, "question": source_question,
            "options": [str(o) for o in (options or [])], "answer_type": answer_type, "scoring": scoring,
            "meta": json.dumps(plain(meta or {}), sort_keys=True, default=str, allow_nan=False),
        },
    }
