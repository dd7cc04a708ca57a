"""Answers written as a chain of ``=`` and ``\\approx``: ``2 \\times 3 = 6 \\text{ cm}``,
``x = \\frac{1}{3} \\approx 0.33``, ``16\\pi = 50.24``, ``e \\approx 2.718``.

A chain states several values of one quantity; it answers a plain ground truth when one of them does,
unless the chain is false: two of its constant sides that disagree beyond rounding
(``2 + 2 = 5``, ``\\frac{1}{3} \\approx 1.3``, ``8 \\approx 9``, ``AB = 4 = 3``). A name on the left
(``x``, ``AB``, ``\\angle ABC``) is not a value and is dropped.

Rounding: two constant sides agree when they differ by at most

- one unit of the last digit of a side written as a decimal (``0.33``, ``0.66`` for ``\\frac{2}{3}``,
  ``2.82`` for ``2\\sqrt{2}``: rounded or truncated), half a unit of a side written as an integer
  (``5.4 \\approx 5``; ``8 \\approx 9`` is false);
- a relative 1e-3 between an exact form and a number (``9\\pi = 28.26``, the school value of pi);
- the grader's relative 1e-4 otherwise.

A percent side is read either way (``\\frac{1}{4} = 25\\%``).
"""

from __future__ import annotations

import re

from verl_mupo.grading.numeric import REL_TOL, evaluate
from verl_mupo.grading.structure import bracket_depths, has_relation, is_name
from verl_mupo.grading.units import split_unit

__all__ = ["chain_answers", "is_chain", "MAX_CHAIN_SIDES"]

#: the last this many sides of a chain are its answers (each may cost a comparison)
MAX_CHAIN_SIDES = 4
_LINK = re.compile(r"=|\\approx(?![a-zA-Z])")
_PLAIN = re.compile(r"[-+]?\s*\d+(?:\.(?P<decimals>\d+))?")
_EXACT_VS_NUMBER_TOL = 1e-3
_CONSTANTS = frozenset({"e", "i", "\\mathrm{e}", "\\mathrm{i}"})


def _links(s: str) -> list[re.Match]:
    if "=" not in s and "\\approx" not in s:
        return []
    depth = bracket_depths(s)
    return [m for m in _LINK.finditer(s) if depth[m.start()] == 0]


def is_chain(s: str) -> bool:
    """Whether ``s`` has a top-level ``=`` or ``\\approx``."""
    return bool(_links(s))


def _side(text: str) -> tuple[float | None, bool, float]:
    """``(value, percent, digit tolerance)`` of one side: its value without a listed unit (``None`` if
    it is not a constant), whether the unit is ``%``, and the rounding its writing allows."""
    core, unit = split_unit(text)
    value = evaluate(core)
    plain = _PLAIN.fullmatch(core.strip())
    if plain is None:
        digit = 0.0
    elif plain.group("decimals"):
        digit = 10.0 ** -len(plain.group("decimals"))
    else:
        digit = 0.5
    return value, unit == "%", digit


def _agree(a: tuple[float, bool, float], b: tuple[float, bool, float]) -> bool:
    (va, pa, da), (vb, pb, db) = a, b
    exact_vs_number = (da == 0.0) != (db == 0.0)
    for x in [va] + ([va / 100.0] if pa else []):
        for y in [vb] + ([vb / 100.0] if pb else []):
            scale = max(abs(x), abs(y))
            tol = max(REL_TOL * scale, da, db, _EXACT_VS_NUMBER_TOL * scale if exact_vs_number else 0.0, 1e-12)
            if abs(x - y) <= tol * (1 + 1e-9):
                return True
    return False


def chain_answers(s: str) -> list[str] | None:
    """The values a chain states, last :data:`MAX_CHAIN_SIDES` sides (a leading name dropped);
    ``[]`` for a false chain; ``None`` when ``s`` is not a chain (no top-level ``=``/``\\approx``, or
    another relation as well: ``x \\ge 5``, ``\\not= 5``, which the relation rule reads).

    ``chain_answers("x = \\\\frac{1}{3} \\\\approx 0.33") == ["\\\\frac{1}{3}", "0.33"]``,
    ``chain_answers("2 + 2 = 5") == []``, ``chain_answers("5") is None``."""
    links = _links(s)
    if not links or has_relation(_LINK.sub(" ", s)):
        return None
    cuts = [0] + [x for m in links for x in (m.start(), m.end())] + [len(s)]
    sides = [s[cuts[i]: cuts[i + 1]].strip() for i in range(0, len(cuts), 2)]
    if not sides[0] or (is_name(sides[0]) and sides[0] not in _CONSTANTS and evaluate(sides[0]) is None):
        sides = sides[1:]  # \approx 5, x = 3, \angle ABC = 30^\circ (not e \approx 2.718, \pi = 3.14)
    if not sides or any(not x for x in sides):
        return None
    sides = sides[-MAX_CHAIN_SIDES:]
    known = [v for v in map(_side, sides) if v[0] is not None]
    if any(not _agree(a, b) for i, a in enumerate(known) for b in known[i + 1:]):
        return []
    return sides
