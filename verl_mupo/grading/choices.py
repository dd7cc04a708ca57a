"""Multiple-choice letters, option texts and yes/no answers.

A ground truth is a choice when it is one capital letter A-J (``C``, ``(C)``, ``C.``), or one with
its option's text (``C. 12 cm``: the letter, the text or both answer it); several letters
(``A, C``; ``AC`` only when ``extra_info["answer_type"] == "choices"``) must be answered by the same
set. A response names its letter in any common spelling (``C``, ``(C)``, ``C.``, ``C: 12 cm``,
``\\text{C}``, ``option C``, ``Answer: (C)``) or gives the option's text when the options are known
(``extra_info["options"]``, a list or a dict, or ``A. ...`` options in ``extra_info["question"]``).
Naming two letters for one is wrong (a hedge). Yes/no ground truths (``yes``/``true``,
``no``/``false``) need the same word, alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["truth_letters", "truth_option", "answer_letters", "option_texts", "yes_no"]

#: the option letters a multiple-choice question may have (the benchmark converters write no more)
LETTERS = "ABCDEFGHIJ"
#: one option letter, as a regular-expression character class (``[A-J]``)
LETTER_CLASS = f"[{LETTERS[0]}-{LETTERS[-1]}]"
_ONE = re.compile(r"\(?\s*([A-J])\s*\)?\.?")
_SEVERAL = re.compile(r"\(?[A-J]\)?(?:\s*(?:,|;|、|\s|and|&)\s*\(?[A-J]\)?)+")
_RUN = re.compile(r"[A-J]{2,10}")
# two or more capital letters, each after a separator or in its own parentheses: A, C / A or C / (A)(C)
_LIST = re.compile(r"\(?\s*[A-J]\s*\)?(?:\s*(?:,|;|/|、|&|\bor\b|\band\b)\s*\(?\s*[A-J]\s*\)?|\s*\(\s*[A-J]\s*\))+")
_SPELLINGS = [
    re.compile(r"\(?\s*([A-J])\s*\)?\.?", re.IGNORECASE),  # C, (C), C.
    re.compile(r"\(?\s*([A-J])\s*\)?\s*[.:)]\s*\S.*", re.IGNORECASE | re.DOTALL),  # C. text / C: text / C) text
    re.compile(r"\(([A-J])\)\s+\S.*", re.IGNORECASE | re.DOTALL),  # (C) text
    re.compile(r"(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)(?:\s+is)?\s*:?\s*\(?\s*([A-J])\s*\)?"
               r"(?:\s*[.:)]\s*.*)?", re.IGNORECASE | re.DOTALL),  # option C, Answer: (C)
]
# a second option named in the text after a letter: a marker (``B. 13``, ``B) 13``, ``(B) 13``, ``B: no``)
# at the start of the text or after a blank or separator (``A. 12, B. 13``, ``A.12,B.13``, ``A. 12 \\\\ B. 13``),
# not after a command (``\\angle A: \\angle B``) and not ``F: (2, 3)``; or a letter after "or"
# (``A. 12 or B``, ``A \\lor B``), or after "and" unless a letter comes before it (``C. Both A and B``)
_OTHER_MARKER = re.compile(r"(?:^|(?<=[\s,;/&|\u3001\\]))\(?(?P<a>[A-HJ])(?:[.)](?=\s|$|\d|\\)|:(?=\s+[^\s(\\]|$))"
                           r"|(?:^|\s)(?:(?i:or|and/or)|\\lor|\\vee)\s+(?:(?i:option|choice)\s+)?"
                           r"\(?(?P<b>[A-J])\)?(?![A-Za-z0-9])"
                           r"|(?<![A-Z])\s(?i:and)\s+\(?(?P<c>[A-J])\)?[.)]?$")
_AFTER_COMMAND = re.compile(r"\\[a-zA-Z]+\s*\(?$")
# the whole text is one more option: "or B", "B.", "B)", "(B)"; a bare letter is an option's text (B. E),
# and I is left out (Roman numerals: C. I. and II.)
_LONE_LETTER = re.compile(r"(?:(?:(?i:or|and)|\\lor|\\vee)\s+\(?([A-HJ])\)?[.:]?|\(([A-HJ])\)|([A-HJ])[.:)])")


def _other_options(text: str) -> list[str]:
    """The option letters named in the text that follows an answer's letter (``A. 12 or B. 13`` -> B)."""
    lone = _LONE_LETTER.fullmatch(text)
    if lone:
        return [next(g for g in lone.groups() if g)]  # A) B), A. B., A. or B
    return [m.group("a") or m.group("b") or m.group("c") for m in _OTHER_MARKER.finditer(text)
            if not (m.group("a") and _AFTER_COMMAND.search(text[: m.start()]))]


def _same_text(a: str, b: str | None) -> bool:
    return b is not None and re.sub(r"\s+", "", a).lower() == re.sub(r"\s+", "", b).lower()


_QUESTION_OPTION = re.compile(r"(?:^|(?<=\s))\(?([A-J])[).:]\s*")
_YES = {"yes", "true"}
_NO = {"no", "false"}


def truth_letters(ground_truth: str, answer_type: str | None = None) -> frozenset[str] | None:
    """The letter set a ground truth asks for, ``None`` when it is not a choice. ``answer_type`` is
    ``extra_info["answer_type"]`` (``"choices"`` lets ``AC`` mean A and C)."""
    g = ground_truth.strip()
    m = _ONE.fullmatch(g)
    if m:
        return frozenset(m.group(1))
    if _SEVERAL.fullmatch(g):
        return frozenset(re.findall(r"[A-J]", re.sub(r"\band\b", " ", g)))
    if answer_type == "choices" and _RUN.fullmatch(g):
        return frozenset(g)
    return None


# a ground truth that names its option and the option's text: "A. 12 cm", "(A) 12 cm", "A) 12 cm"
_TRUTH_OPTION = re.compile(r"(?:\(([A-J])\)|([A-J])[.)])\s+(\S.*)", re.DOTALL)


def truth_option(ground_truth: str) -> tuple[str, str] | None:
    """``("A", "12 cm")`` for a ground truth written as an option with its text (``A. 12 cm``,
    ``(A) 12 cm``, ``A) 12 cm``): then the letter alone, the text alone or both answer it.
    ``None`` for anything else (``A: (1, 2)`` may be a point, and stays a plain answer)."""
    m = _TRUTH_OPTION.fullmatch(ground_truth.strip())
    return None if m is None else (m.group(1) or m.group(2), m.group(3).strip())


def answer_letters(answer: str, several: bool, texts: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """The letter(s) a response names, ``None`` when it names none in a recognised spelling.
    With ``several`` a run of letters is read as a set (``AC``, ``A, C``, ``(A)(C)``). ``texts`` (letter
    -> option text, when known) lets an option's own text name letters (``D. E``, ``A. A and B``);
    otherwise a second option after the first one's text is counted (``A. 12 or B. 13``: a hedge)."""
    a = answer.strip().strip("$").strip()
    if _LIST.fullmatch(a):  # several letters: the set asked for, or a hedge when one letter is asked
        return frozenset(re.findall(r"[A-J]", a))
    for pat in _SPELLINGS:
        m = pat.fullmatch(a)
        if m:
            letter = m.group(1).upper()
            tail = a[m.end(1):].lstrip().lstrip(".:)").strip()  # the option's text, if any
            if not tail or (texts and _same_text(tail, texts.get(letter))):
                return frozenset(letter)
            return frozenset([letter] + _other_options(tail))  # a second option named: a hedge
    if several and _RUN.fullmatch(a):
        return frozenset(a)
    return None


def option_texts(extra_info) -> dict[str, str]:
    """Option letter -> text from ``extra_info["options"]`` (a sequence, A first, or a mapping) or
    ``extra_info["choices"]``, else from ``A. ...`` / ``(B) ...`` options in ``extra_info["question"]``."""
    if not isinstance(extra_info, Mapping):
        return {}
    for key in ("options", "choices"):
        opts = extra_info.get(key)
        if isinstance(opts, Mapping) and len(opts):
            return {str(k).strip().strip("().").upper()[:1]: str(v) for k, v in opts.items()}
        if opts is not None and not isinstance(opts, (str, bytes)) and hasattr(opts, "__len__") and len(opts):
            return {LETTERS[i]: str(v) for i, v in enumerate(list(opts)[: len(LETTERS)])}
    question = extra_info.get("question")
    if not isinstance(question, str):
        return {}
    marks = list(_QUESTION_OPTION.finditer(question))
    letters = [m.group(1) for m in marks]
    if len(marks) < 2 or letters != list(LETTERS[: len(letters)]):
        return {}  # not a run of options A, B, C, ...
    out = {}
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(question)
        text = question[m.end(): end].split("\n", 1)[0].strip().rstrip(";,")
        out[m.group(1)] = text.strip()
    return out


def yes_no(answer: str) -> str | None:
    """``"yes"`` or ``"no"`` when ``answer`` is that word alone (``Yes``, ``\\text{No}.``, ``True``)."""
    w = re.sub(r"[\s.!。]+$", "", answer.strip()).strip().lower()
    return "yes" if w in _YES else "no" if w in _NO else None
