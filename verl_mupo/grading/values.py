"""The value rule: a final answer to a numeric question is a value, not the computation that gives it.

A policy can learn to copy the expression of the question (``2^{10}``, ``17 \\times 23``,
``\\binom{10}{3}``) instead of computing it, and every symbolic checker pays that. So when the ground
truth is a number, an answer that still holds **arithmetic on literal numbers** is wrong
(:func:`unevaluated` names what is left to compute):

- a product or quotient of two literal numbers: ``17 \\times 23``, ``3 \\cdot \\frac{1}{2}``, ``6 \\div 2``,
  ``(3)(4)``;
- a power of a literal number: ``2^{10}``, ``(-2)^3``, ``3^{-1}`` (not of 10: ``10^{-3}`` is scientific
  notation, and neither is ``1.5 \\times 10^3``);
- a sum or difference of two rational literals: ``3 + 4``, ``\\frac{1}{2} + \\frac{1}{3}``, ``100 - 1``
  (``2 + \\sqrt{3}`` and ``16 - 4\\pi`` are values: their terms do not combine);
- binomials, factorials, sums, products, integrals, limits: ``\\binom{10}{3}``, ``C_{10}^3``, ``5!``,
  ``\\sum_{k=1}^{4} k``, ``\\int_0^1 x\\,dx``, ``\\lim_{n\\to\\infty} ..``;
- a root whose value is a whole number: ``\\sqrt{16}``, ``\\sqrt{8}\\sqrt{2}``.

Values stay right: ``1024``, ``\\frac{12}{4}`` (a fraction), ``2\\sqrt{3}``, ``\\sqrt{12}``, ``12\\pi``,
``\\frac{\\pi}{6}``, ``1.5 \\times 10^{3}``, ``50\\%``, and a chain whose constant sides include a
value (``2 \\times 3 = 6``: the chain rule reads each side, and ``6`` is the answer). The ground
truth's own form is always right (``2^{10}`` for ``2^{10}``), and so is any answer when the ground
truth is not a number itself. Logarithms and trigonometry of numbers are not counted as arithmetic
here (``\\ln 2`` is an exact value like ``\\sqrt{2}``).

**Restatements.** When ``extra_info["question"]`` is known, an answer that the question holds verbatim
and that is not the ground truth's own form is wrong (:func:`copied_from_question`): ``(x-1)(x+1)``
for ``x^2 - 1`` when the question says "expand (x-1)(x+1)". Values are never copies (``\\frac{1}{2}``
may stand in the question and be the answer), nor answers shorter than :data:`MIN_COPIED_CHARS`
characters (``2x`` stands in many questions), nor anything when the question lists options (then the
answer is an option's text by design).

Inputs are cleaned answers (:func:`verl_mupo.grading.latex.clean`); every pattern is linear.
"""

from __future__ import annotations

import functools
import re

from verl_mupo.grading.latex import clean, compact
from verl_mupo.grading.numeric import evaluate, written_step
from verl_mupo.grading.structure import bracket_depths

__all__ = ["unevaluated", "is_number_value", "copied_from_question", "MIN_COPIED_CHARS"]

#: an answer this long or longer (without spaces) that the question holds verbatim is a copy
MIN_COPIED_CHARS = 5

_NUM = r"\d+(?:\.\d+)?"
_FRAC = r"\\frac\s*\{\s*-?" + _NUM + r"\s*\}\s*\{\s*-?" + _NUM + r"\s*\}"
_LIT = r"(?:" + _NUM + r"|" + _FRAC + r"|\(\s*-?" + _NUM + r"\s*\))"
_PRODUCT = re.compile(r"(?<![\w.^_])" + _LIT + r"\s*(?:\\times|\\cdot|\*|\\div)\s*-?"
                      + _LIT + r"|(?<![\w.^_])" + _LIT + r"\s*\(\s*-?" + _NUM + r"\s*\)")
_SCIENTIFIC = re.compile(r"\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*(?:\{\s*[-+]?\d+\s*\}|[-+]?\d)")
_POWER = re.compile(r"(?<![\w.^_{\\])(" + _NUM + r"|\(\s*-?" + _NUM + r"\s*\))\s*\^\s*(?:\{\s*[-+]?\d+\s*\}|[-+]?\d)")
_OPERATOR = re.compile(r"\\(?:[dt]?binom|choose|sum|prod|int|iint|iiint|oint|lim|limits)(?![a-zA-Z])"
                       r"|(?:\d|\)|\})\s*!(?!=)|\b[CAP]\s*(?:_\s*\{?\s*\d+\s*\}?\s*\^\s*\{?\s*\d+|\^\s*\{?\s*\d+\s*\}?\s*_"
                       r"\s*\{?\s*\d+)|\b[CP]\s*\(\s*\d+\s*,\s*\d+\s*\)")
_RATIONAL_TERM = re.compile(r"[-+]?\s*(?:" + _NUM + r"|" + _FRAC + r"|" + _NUM + r"\s*/\s*" + _NUM + r")\s*%?")


def _terms(s: str) -> list[str]:
    """``s`` split at its top-level ``+``/``-`` (not a sign: not at the start, after an operator, ``^``,
    ``e`` of ``1e-3``, or an opening bracket)."""
    depth = bracket_depths(s)
    cuts, prev = [], ""
    for i, ch in enumerate(s):
        if ch in "+-" and depth[i] == 0 and prev and prev not in "+-*/^({[=,eE" and not s[:i].rstrip().endswith(
                ("\\times", "\\cdot", "\\div")):
            cuts.append(i)
        if not ch.isspace():
            prev = ch
    return [s[a:b] for a, b in zip([0] + cuts, cuts + [len(s)])]


def unevaluated(answer: str) -> str | None:
    """What is left to compute in ``answer`` (``"product"``, ``"power"``, ``"sum"``, ``"operator"``,
    ``"root"``), ``None`` when it is a value form (see the module docstring)."""
    if _OPERATOR.search(answer):
        return "operator"
    if _PRODUCT.search(_SCIENTIFIC.sub("", answer)):  # 1.5 \\times 10^3 is a value, 2 \\times 3 is not
        return "product"
    for m in _POWER.finditer(answer):
        if m.group(1).strip("() ") != "10":
            return "power"
    if sum(bool(_RATIONAL_TERM.fullmatch(t.strip())) for t in _terms(answer)) >= 2:
        return "sum"
    if "\\sqrt" in answer:
        v = evaluate(answer)
        if v is not None and v == round(v):
            return "root"
    return None


def is_number_value(answer: str) -> bool:
    """Whether ``answer`` is a number written as a value (it evaluates and nothing is left to compute):
    the ground truths the value rule applies to."""
    return evaluate(answer) is not None and unevaluated(answer) is None


@functools.lru_cache(maxsize=256)
def _question_text(question: str) -> str:
    return compact(clean(question))


def copied_from_question(p: str, g: str, question: str) -> bool:
    """Whether the cleaned answer ``p`` is a verbatim copy of part of ``question`` that is not the
    cleaned ground truth ``g``'s own form (see the module docstring)."""
    cp = compact(p)
    if cp == compact(g) or len(cp) < MIN_COPIED_CHARS or written_step(p) is not None or is_number_value(p):
        return False
    return cp in _question_text(question)
