"""Answers written as a chain of ``=`` and ``\\approx``: ``2 \\times 3 = 6 \\text{ cm}``,
``x = \\frac{1}{3} \\approx 0.33``, ``16\\pi = 50.24``, ``100 \\text{ cm} = 1 \\text{ m}``.

A chain states one quantity several ways. Its constant sides (those :func:`~verl_mupo.grading.numeric.evaluate`
reads, with a unit from the closed list or without) must all agree; then each of them is an answer
(the exact form and its rounding: ``2\\sqrt{3} \\approx 3.46`` answers ``2\\sqrt{3}`` and ``3.46``). A chain
whose constant sides disagree is false and answers nothing (``2 + 2 = 5``, ``\\frac{1}{3} \\approx 1.3``,
``8 \\approx 9``, ``AB = 4 = 3``). Other sides (formulas ``\\pi r^2``, names, words, tuples) are not
answers when the chain has a constant side; a chain without one answers with its last side only. So a
chain never offers two different candidate answers.

Two constant sides agree when, after converting listed units (``100 cm = 1 m``, ``1 h = 60 min``,
``\\frac{\\pi}{6} = 30°``; a unit on one side only is ignored; units that do not convert disagree),
they differ by less than

- half a unit of the coarser one's last digit when both are written as numbers (``5.4 \\approx 5``,
  ``3.14159 \\approx 3.14``; ``0.3 \\approx 0.4``, ``5 \\approx 5.5`` and ``1000 = 1001`` are false);
- between an exact form and a number: half a unit of the number's last digit (``\\sqrt{26} \\approx 5``,
  ``\\frac{1}{3} \\approx 0.33``), a decimal truncated (``\\frac{2}{3} \\approx 0.66``), or a relative 1e-3
  for a decimal (``9\\pi = 28.26``, the school value of pi; ``\\frac{1}{3} \\approx 0.4`` is false);
- the grader's relative 1e-4 between two exact forms.

A percent side is read either way (``\\frac{1}{4} = 25\\%``).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from verl_mupo.grading.numeric import REL_TOL, evaluate
from verl_mupo.grading.structure import bracket_depths, has_relation, is_name
from verl_mupo.grading.units import split_unit, unit_scale

__all__ = ["chain_answers", "is_chain", "MAX_CHAIN_SIDES"]

#: the last this many constant sides of a chain are its answers (each may cost a comparison)
MAX_CHAIN_SIDES = 4
_LINK = re.compile(r"=|\\approx(?![a-zA-Z])")
_PLAIN = re.compile(r"[-+]?\s*\d+(?:\.(?P<decimals>\d+))?")
_EXACT_VS_NUMBER_TOL = 1e-3
_CONSTANTS = {"e": math.e, "\\mathrm{e}": math.e}  # e \approx 2.718 (the evaluator leaves e to math-verify)


class _Side(NamedTuple):
    value: float
    unit: str | None
    decimals: int | None  # digits after the point of a side written as a number; None for an exact form


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
    plain = _PLAIN.fullmatch(core)
    return _Side(value, unit, None if plain is None else len(plain.group("decimals") or ""))


def _readings(side: _Side, other: _Side) -> list[tuple[float, float | None]]:
    """``(value, digit tolerance)`` of ``side`` for a comparison with ``other``: a percent read either
    way, a degree also as radians against a side without a unit, both scaled to their base unit when
    their units differ and convert; ``[]`` when the units cannot be compared (``12 cm = 12 kg``)."""
    digit = None if side.decimals is None else 10.0 ** -side.decimals
    if side.unit == "%":
        return [(side.value, digit), (side.value / 100.0, None if digit is None else digit / 100.0)]
    if side.unit is None or other.unit in (None, "%") or side.unit == other.unit:
        readings = [(side.value, digit)]
        if side.unit == "\u00b0" and other.unit is None:
            readings.append((math.radians(side.value), None if digit is None else math.radians(digit)))
        return readings
    mine, theirs = unit_scale(side.unit), unit_scale(other.unit)
    if mine is None or theirs is None or mine[0] != theirs[0]:
        return []
    return [(side.value * mine[1], None if digit is None else digit * mine[1])]


def _agree(a: _Side, b: _Side) -> bool:
    for x, dx in _readings(a, b):
        for y, dy in _readings(b, a):
            gap, scale = abs(x - y), max(abs(x), abs(y))
            if dx is not None and dy is not None:  # two numbers: the coarser is the finer rounded
                ok = gap < 0.5 * max(dx, dy) * (1 - 1e-9)
            elif dx is not None or dy is not None:  # an exact form and a number
                number, d, shown, exact = (a, dx, x, y) if dx is not None else (b, dy, y, x)
                truncated = number.decimals > 0 and 0 <= abs(exact) - abs(shown) < d and shown * exact >= 0
                school = number.decimals > 0 and gap <= _EXACT_VS_NUMBER_TOL * scale  # 9\pi = 28.26
                ok = gap < 0.5 * d * (1 - 1e-9) or truncated or school
            else:
                ok = gap <= max(REL_TOL * scale, 1e-12)
            if ok:
                return True
    return False


def chain_answers(s: str) -> list[str] | None:
    """The answers a chain gives: its last :data:`MAX_CHAIN_SIDES` constant sides when it has any and
    they all agree, ``[]`` when two of them disagree (a false chain), else its last side; ``None`` when
    ``s`` is not a chain (no top-level ``=``/``\\approx``, or another relation as well: ``x \\ge 5``,
    ``\\not= 5``, which the relation rule reads). A leading name (``x``, ``AB``, ``\\angle ABC``) is
    never an answer.

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
    constant = [(text, side) for text, side in ((t, _side(t)) for t in sides) if side is not None]
    if not constant:
        return sides[-1:]
    values = [side for _, side in constant]
    if any(not _agree(a, b) for i, a in enumerate(values) for b in values[i + 1:]):
        return []
    return [text for text, _ in constant][-MAX_CHAIN_SIDES:]
