"""Answers written as a chain of ``=`` and ``\\approx``: ``2 \\times 3 = 6 \\text{ cm}``,
``x = \\frac{1}{3} \\approx 0.33``, ``16\\pi = 50.24``, ``100 \\text{ cm} = 1 \\text{ m}``.

A chain states one quantity several ways. Its constant sides (those
:func:`~verl_mupo.grading.numeric.evaluate` reads, with a unit from the closed list or without) are
checked from left to right, each against every constant side before it; when every step holds, each
constant side is an answer (the exact form and its rounding: ``2\\sqrt{3} \\approx 3.46`` answers
``2\\sqrt{3}`` and ``3.46``). One step that does not hold makes the chain false, and it answers nothing
(``2 + 2 = 5``, ``\\frac{1}{3} \\approx 0.4``, ``8 \\approx 9``, ``AB = 4 = 3``, ``1 \\text{ m} = 60 \\text{ cm}``).
A step between units that do not convert (``5 \\text{ apples} = ...``) cannot be checked: the chain
then answers with its last side only, as does a chain without constant sides (formulas ``\\pi r^2``,
names, words, tuples are never answers beside a constant side). So a chain never offers two
candidates that are not the same quantity.

A step from ``a`` to ``b`` holds when, after converting listed units (``100 cm = 1 m``, ``1 h = 60 min``,
``10 m/s = 36 km/h``; a degree side against a side with ``\\pi`` as radians: ``\\frac{\\pi}{6} = 30°``; a
unit on one side only is ignored; a percent is read either way):

- ``b`` written as a number (``3.46``, ``5``, ``1.26 \\times 10^3``) is ``a`` rounded to ``b``'s last digit
  (half up: ``2.5 \\approx 3``, ``37.5\\% \\approx 38\\%``), or, from an exact form, truncated
  (``\\frac{2}{3} \\approx 0.66``) or within a relative 1e-3 when ``a`` has ``\\pi`` (``9\\pi = 28.26``, the
  school value); ``b`` may not be finer than a number ``a`` (``2 \\approx 2.4`` is false);
- ``b`` an exact form equals ``a`` (a relative 1e-4), or ``a`` written as a number is ``b`` rounded
  (``1.73 = \\sqrt{3}``).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from verl_mupo.grading.numeric import REL_TOL, evaluate, written_step
from verl_mupo.grading.structure import bracket_depths, has_relation, is_name
from verl_mupo.grading.units import split_unit, unit_scale

__all__ = ["chain_answers", "is_chain", "MAX_CHAIN_SIDES", "MAX_SIDES"]

#: the last this many constant sides of a chain are its answers (each may cost a comparison)
MAX_CHAIN_SIDES = 4
#: a chain with more sides than this is not read as one quantity (every pair of constant sides is
#: checked, so a hostile 250-side chain would cost 30,000 checks): it answers nothing
MAX_SIDES = 12
_LINK = re.compile(r"=|\\approx(?![a-zA-Z])")
_SCHOOL_PI_TOL = 1e-3
_CONSTANTS = {"e": math.e, "\\mathrm{e}": math.e}  # e \approx 2.718 (the evaluator leaves e to math-verify)
_DEGREE = "\u00b0"


class _Side(NamedTuple):
    value: float
    unit: str | None
    step: float | None  # the unit of the last written digit of a side written as a number; None: exact
    pi: bool  # has \pi


def _links(s: str) -> list[re.Match]:
    if "=" not in s and "\\approx" not in s:
        return []
    depth = bracket_depths(s)
    return [m for m in _LINK.finditer(s) if depth[m.start()] == 0]


def is_chain(s: str) -> bool:
    """Whether ``s`` has a top-level ``=`` or ``\\approx``."""
    return bool(_links(s))


def _side(text: str) -> _Side | None:
    core, unit = split_unit(text)
    core = core.strip()
    value = _CONSTANTS.get(core, evaluate(core))
    if value is None:
        return None
    return _Side(value, unit, written_step(core), "\\pi" in core)


def _readings(a: _Side, b: _Side) -> list[tuple[float, float | None]] | None:
    """``(value, written step)`` of ``a`` for a comparison with ``b``: a percent both ways, degrees as
    radians against a side with pi, in the base unit when both have listed units that differ; ``None``
    when those units do not convert."""
    step = a.step
    if a.unit == _DEGREE and b.unit is None and b.pi:
        return [(math.radians(a.value), None if step is None else math.radians(step))]
    if a.unit is not None and b.unit is not None and a.unit != b.unit and "%" not in (a.unit, b.unit):
        mine, theirs = unit_scale(a.unit), unit_scale(b.unit)
        if mine is None or theirs is None or mine[0] != theirs[0]:
            return None
        return [(a.value * mine[1], None if step is None else step * mine[1])]
    if a.unit == "%":
        return [(a.value, step), (a.value / 100.0, None if step is None else step / 100.0)]
    return [(a.value, step)]


def _step_holds(a: _Side, b: _Side) -> bool | None:
    """Whether ``b`` restates ``a`` (see the module docstring); ``None`` when their units do not convert."""
    left, right = _readings(a, b), _readings(b, a)
    if left is None or right is None:
        return None
    converted = (a.unit != b.unit and None not in (a.unit, b.unit)) or (_DEGREE in (a.unit, b.unit) and (a.pi or b.pi))
    return any(_restates(x, xs, y, ys, pi=a.pi or b.pi, converted=converted) for x, xs in left for y, ys in right)


def _restates(x: float, x_step: float | None, y: float, y_step: float | None, pi: bool, converted: bool) -> bool:
    gap = abs(x - y)
    if y_step is not None:  # y written as a number: x rounded (half up) or truncated to y's last digit
        if x_step is not None and not converted and y_step < x_step * (1 - 1e-9) and gap > 1e-9 * max(1.0, abs(x)):
            return False  # finer than the number it restates: 2 \approx 2.4 (0.6 = 60\%, 5 = 5.00 are equal)
        half = 0.5 * y_step
        if gap < half * (1 - 1e-9) or (gap <= half * (1 + 1e-9) and abs(y) >= abs(x)):
            return True
        if x_step is None and y_step < 1 and x * y >= 0 and 0 <= abs(x) - abs(y) < y_step:
            return True  # \frac{2}{3} \approx 0.66
        return x_step is None and pi and gap <= _SCHOOL_PI_TOL * abs(x)  # 9\pi = 28.26
    if x_step is not None:  # a number, then the exact form it rounds (half up): 1.73 = \sqrt{3}
        half = 0.5 * x_step
        return gap < half * (1 - 1e-9) or (gap <= half * (1 + 1e-9) and abs(x) >= abs(y))
    return gap <= max(REL_TOL * max(abs(x), abs(y)), 1e-12)


def chain_answers(s: str) -> list[str] | None:
    """The answers a chain gives: its last :data:`MAX_CHAIN_SIDES` constant sides when every step holds,
    ``[]`` when one does not (a false chain) or it has more than :data:`MAX_SIDES` sides, its last side
    when a step cannot be checked or it has no constant side; ``None`` when ``s`` is not a chain (no
    top-level ``=``/``\\approx``, or another relation as well: ``x \\ge 5``, ``\\not= 5``, which the
    relation rule reads). A leading name (``x``, ``AB``, ``\\angle ABC``) is never an answer.

    ``chain_answers("x = \\\\frac{1}{3} \\\\approx 0.33") == ["\\\\frac{1}{3}", "0.33"]``,
    ``chain_answers("\\\\pi r^2 = 28.26") == ["28.26"]``, ``chain_answers("2 + 2 = 5") == []``,
    ``chain_answers("5") is None``."""
    links = _links(s)
    if not links or has_relation(_LINK.sub(" ", s)):
        return None
    cuts = [0] + [x for m in links for x in (m.start(), m.end())] + [len(s)]
    sides = [s[cuts[i]: cuts[i + 1]].strip() for i in range(0, len(cuts), 2)]
    if not sides[0] or (is_name(sides[0]) and sides[0] not in _CONSTANTS and evaluate(sides[0]) is None):
        sides = sides[1:]  # \approx 5, x = 3, \angle ABC = 30^\circ (not e \approx 2.718, \pi = 3.14)
    if not sides or any(not x for x in sides):
        return None
    if len(sides) > MAX_SIDES:
        return []
    read = [(t, _side(t)) for t in sides]
    if any(side is None and written_step(split_unit(t)[0]) is not None for t, side in read) or any(
            side is not None and not math.isfinite(side.value) for _, side in read):
        return []  # a number too large to read: 1 \times 10^{400} = 3 is not checked, so not trusted
    constant = [(text, side) for text, side in read if side is not None]
    # every constant side against every earlier one (2 \approx \frac{5}{2} \approx 3 holds step by step only)
    steps = [_step_holds(a, b) for i, (_, a) in enumerate(constant) for _, b in constant[i + 1:]]
    if False in steps:
        return []
    if not constant or None in steps:
        return sides[-1:]
    return [text for text, _ in constant][-MAX_CHAIN_SIDES:]
