"""The grader's comparison of two cleaned answers, as one ordered table of named rules (issue 19).

:data:`TABLE` is the policy: ``(key, rule)`` pairs, walked in order by :func:`decide`. Each rule is a
function ``rule(pair, oracle) -> verdict`` of a :class:`Pair` (the answer ``p`` and the ground truth
``g``, cleaned: :func:`verl_mupo.grading.latex.clean`) and the symbolic oracle (``oracle(p, g) -> bool |
None``, math-verify within the answer's budget: :mod:`verl_mupo.scoring`). Its verdict is one of

- ``True``: the answer is paid (right); ``False``: it is refused (wrong) -- either way the walk stops;
- ``None``: no decision, the next rule looks at the same pair;
- a :class:`Pair`: the pair rewritten for the next rules (``x = 3`` against ``3`` goes on as ``3``
  against ``3``; the units removed travel in :attr:`Pair.pu`/:attr:`Pair.gu` for ``count_words`` and
  ``numbers``).

The first rule that decides, decides; the last one (``symbolic``) always does. Rules that compare parts
(lists, chains, tuples, unions) grade each part with :func:`decide`: the whole table again, on the part.
Each key is described, with right and wrong examples, by one row of :data:`verl_mupo.grading.rules.RULES`
(in the same order: ``tests/test_grader_rules.py``), and ``docs/grader.md``'s rule table is made from
those rows. Before this table, :func:`verl_mupo.scoring.grade` reads what is visible, the letters of
multiple choice, yes/no and answers copied from the question. No verl, no torch here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Union

from verl_mupo.grading import latex, structure
from verl_mupo.grading.chains import chain_answers, is_chain
from verl_mupo.grading.latex import compact, is_words
from verl_mupo.grading.numeric import evaluate, same_equation, same_function, values_equal, written_step
from verl_mupo.grading.structure import (bracketed, has_relation, named_tuples, relation_union, split_name,
                                         strip_point_name, top_level_parts, union_parts)
from verl_mupo.grading.units import same_count_word, split_count_word, split_unit
from verl_mupo.grading.values import is_number_value, unevaluated

__all__ = ["Pair", "Verdict", "TABLE", "decide"]

_MAX_PARTS = 12  # more parts than this are compared as text only


@dataclasses.dataclass(frozen=True)
class Pair:
    """What a rule compares: the answer ``p`` and the ground truth ``g`` (cleaned strings), and the
    units the ``units`` rule removed from each (``pu``, ``gu``: ``None``, ``"%"``, ``"cm"``, ...)."""

    p: str
    g: str
    pu: str | None = None
    gu: str | None = None


#: a rule's verdict: ``True`` pays, ``False`` refuses, ``None`` passes, a :class:`Pair` rewrites
Verdict = Union[bool, None, Pair]
Oracle = Callable[[str, str], "bool | None"]


def decide(p: str, g: str, oracle: Oracle) -> bool:
    """Whether the cleaned answer ``p`` matches the cleaned ground truth ``g``: the first rule of
    :data:`TABLE` that decides, decides (an answer no rule pays is wrong)."""
    pair = Pair(p, g)
    for _, rule in TABLE:
        verdict = rule(pair, oracle)
        if isinstance(verdict, Pair):
            pair = verdict
        elif verdict is not None:
            return verdict
    return False


def same_text(x: Pair, oracle: Oracle) -> Verdict:
    """Equal strings (up to whitespace) are equal."""
    return True if compact(x.p) == compact(x.g) else None


def notation(x: Pair, oracle: Oracle) -> Verdict:
    """Several answers in another notation, rewritten to the ground truth's: relations joined by "or"
    as a union of intervals (``x < -1 or x > 3``; ``|z|`` between bounds is two intervals: in
    :func:`verl_mupo.grading.structure.relation_interval`), solutions as named values
    (``p=5,q=2;p=7,q=2``) as tuples when the other side writes tuples without names."""
    p, g = relation_union(x.p) or x.p, relation_union(x.g) or x.g
    if "(" in g and "=" not in g:
        p = named_tuples(p) or p
    elif "(" in p and "=" not in p:
        g = named_tuples(g) or g
    return Pair(p, g)


def several(x: Pair, oracle: Oracle) -> Verdict:
    """Several answers (``8, 9``; ``\\{1, 2\\}``) must be as many as the ground truth's, matched in any
    order: a hedge (``8 or 9`` for ``8``) or a missing answer is wrong; one answer goes on alone."""
    pp, gp = _distinct(top_level_parts(x.p)), _distinct(top_level_parts(x.g))
    if len(pp) != len(gp):
        pp, gp = _set_elements(pp), _set_elements(gp)  # \{1, 2\} answered by 1, 2 and the other way round
        if len(pp) != len(gp) or len(gp) < 2:
            return False
    if len(gp) > 1:
        return _same_collection(pp, gp, oracle)
    return Pair(pp[0], gp[0]) if pp and gp else False


def chain(x: Pair, oracle: Oracle) -> Verdict:
    """A chain of ``=`` and ``\\approx`` (``2 \\times 3 = 6 cm``, ``x = \\frac{1}{3} \\approx 0.33``)
    answers with any of its sides unless it is false (``2 + 2 = 5``): :mod:`verl_mupo.grading.chains`;
    not when the ground truth is a chain itself."""
    if is_chain(x.g):
        return None
    answers = chain_answers(x.p)
    return None if answers is None else any(decide(a, x.g, oracle) for a in answers)


def named_value(x: Pair, oracle: Oracle) -> Verdict:
    """``x = 3`` answers ``3`` and the other way round; two different names (``x = 3``, ``y = 3``) differ."""
    p, g = x.p, x.g
    pn, pv = split_name(p)
    gn, gv = split_name(g)
    if pn is not None and gn is not None:
        if compact(pn) != compact(gn):
            return False
        p, g = pv, gv
    elif pn is not None and "=" not in g:
        p = pv
    elif gn is not None and "=" not in p:
        g = gv
    return True if compact(p) == compact(g) else Pair(p, g)


def units(x: Pair, oracle: Oracle) -> Verdict:
    """A unit from the closed list (:mod:`verl_mupo.grading.units`) is removed from each side; two
    different listed units differ (``12 cm`` is not ``12 m``); a percent is kept for ``numbers``."""
    p, pu = split_unit(x.p)
    g, gu = split_unit(x.g)
    if pu is not None and gu is not None and pu != gu and "%" not in (pu, gu):
        return False
    return Pair(p, g, pu, gu)


def count_words(x: Pair, oracle: Oracle) -> Verdict:
    """A count word (``apples``) is removed when the ground truth ends with it (and has no unit); the
    answer's own count word must be the same one. Then, without a percent, equal text is equal."""
    p, g = x.p, x.g
    if x.gu is None:
        g_core, word = split_count_word(g)
        if word is not None:
            p_core, p_word = split_count_word(p)
            if p_word is not None and not same_count_word(p_word, word):
                return False
            p, g = p_core, g_core
    if compact(p) == compact(g) and "%" not in (x.pu, x.gu):
        return True
    return Pair(p, g, x.pu, x.gu)


def point_name(x: Pair, oracle: Oracle) -> Verdict:
    """A capital point name before coordinates is dropped: ``A(1, 2)`` is ``(1, 2)``."""
    return dataclasses.replace(x, p=strip_point_name(x.p), g=strip_point_name(x.g))


def relation_interval(x: Pair, oracle: Oracle) -> Verdict:
    """A one-variable order relation is its interval (``x > 3`` is ``(3, \\infty)``, ``x \\in [1, 2)``
    is ``[1, 2)``) when the other side is an interval or a relation too."""
    p, g = x.p, x.g
    pr, gr = structure.relation_interval(p), structure.relation_interval(g)
    if (pr is not None or gr is not None) and (pr or _interval_like(p)) and (gr or _interval_like(g)):
        p, g = pr or p, gr or g
        if compact(p) == compact(g):
            return True
        return dataclasses.replace(x, p=p, g=g)
    return None


def relation(x: Pair, oracle: Oracle) -> Verdict:
    """A relation is not a value: ``\\ge 5``, ``\\ne 5``, ``x > 5``, ``8 \\approx 9`` for ``5`` are wrong."""
    return False if has_relation(x.p) != has_relation(x.g) else None


def value(x: Pair, oracle: Oracle) -> Verdict:
    """When the ground truth is a number, arithmetic left to do on literal numbers is wrong (``2^{10}``
    for ``1024``: :mod:`verl_mupo.grading.values`)."""
    return False if is_number_value(x.g) and unevaluated(x.p) is not None else None


def union(x: Pair, oracle: Oracle) -> Verdict:
    """Unions (``\\cup``) as many parts as the ground truth's, matched in any order."""
    pg, gg = union_parts(x.p), union_parts(x.g)
    if len(pg) > 1 or len(gg) > 1:
        return len(pg) == len(gg) and _same_collection(pg, gg, oracle)
    return None


_SAME_BRACKET = {"\\langle": "(", "\\rangle": ")"}


def brackets(x: Pair, oracle: Oracle) -> Verdict:
    """Tuples and intervals element by element with the same brackets, sets (``\\{\\}``) in any order;
    a bracket around one element only is dropped (``(x+1)`` is ``x+1``)."""
    p, g = x.p, x.g
    pb, gb = bracketed(p), bracketed(g)
    if pb is None and gb is None:
        return None
    pe = top_level_parts(pb[1]) if pb else None
    ge = top_level_parts(gb[1]) if gb else None
    if pb is not None and len(pe) == 1 and (gb is None or len(ge) == 1):
        return decide(pb[1], gb[1] if gb else g, oracle) if pb[1].strip() else False
    if gb is not None and len(ge) == 1 and pb is None:
        return decide(p, gb[1], oracle) if gb[1].strip() else False
    if pb is None or gb is None or len(pe) != len(ge):
        return False  # a tuple against a single value, or tuples of different lengths
    po, pc = (_SAME_BRACKET.get(b, b) for b in (pb[0], pb[2]))
    go, gc = (_SAME_BRACKET.get(b, b) for b in (gb[0], gb[2]))
    if "\\{" in (po, go):
        return po == go and _same_collection(pe, ge, oracle)
    if (po, pc) != (go, gc):
        return False  # [1, 2) is not (1, 2]
    return all(decide(a, b, oracle) for a, b in zip(pe, ge))


def numbers(x: Pair, oracle: Oracle) -> Verdict:
    """Constants are evaluated (:mod:`verl_mupo.grading.numeric`): two integers written as numbers are
    equal exactly, other values within a relative 1e-4; ``50%`` equals ``50`` and ``0.5``."""
    pval, gval = evaluate(x.p), evaluate(x.g)
    if pval is None or gval is None:
        return None
    if _whole_numbers(x.p, pval, x.g, gval) and (x.pu == "%") == (x.gu == "%"):
        return pval == gval  # integers exactly: 10001 is not 10000
    if (x.pu == "%") == (x.gu == "%"):
        return values_equal(pval, gval)
    if x.pu == "%":
        return values_equal(pval, gval) or values_equal(pval / 100.0, gval)
    return values_equal(pval, gval) or values_equal(pval, gval / 100.0)


def words(x: Pair, oracle: Oracle) -> Verdict:
    """Words (``triangle``) compare case-blind without a leading article; words against a value differ."""
    if is_words(x.p) or is_words(x.g):
        return is_words(x.p) and is_words(x.g) and latex.words(x.p) == latex.words(x.g)
    return None


def prose(x: Pair, oracle: Oracle) -> Verdict:
    """A value followed by words the ground truth does not have is wrong (``5 apples``, ``5 because the
    triangle is isosceles``)."""
    return False if _trailing_prose(x.p) and not _trailing_prose(x.g) else None


def equations(x: Pair, oracle: Oracle) -> Verdict:
    """Two equations are equal up to a constant factor (``y = 2x + 4``, ``2x - y + 4 = 0``) when the
    evaluator reads them; otherwise they go to ``symbolic``."""
    return same_equation(x.p, x.g) if "=" in x.p and "=" in x.g else None


def expressions(x: Pair, oracle: Oracle) -> Verdict:
    """Expressions (not two equations) in variables the evaluator reads are compared at four points
    (``x + 1`` and ``1 + x``; ``2x`` is not ``2``); others go to ``symbolic``."""
    return None if "=" in x.p and "=" in x.g else same_function(x.p, x.g)


def symbolic(x: Pair, oracle: Oracle) -> Verdict:
    """Anything else goes to math-verify (the oracle); a check that is refused or runs out of time is wrong."""
    return bool(oracle(x.p, x.g))


#: the policy, in the order it decides (each key is a row of :data:`verl_mupo.grading.rules.RULES`)
TABLE: tuple[tuple[str, Callable[[Pair, Oracle], Verdict]], ...] = tuple(
    (rule.__name__, rule) for rule in (same_text, notation, several, chain, named_value, units, count_words,
                                       point_name, relation_interval, relation, value, union, brackets, numbers,
                                       words, prose, equations, expressions, symbolic))


def _distinct(parts: list[str]) -> list[str]:
    """Parts without repeats (``8, 8`` names one answer); order kept."""
    seen, out = set(), []
    for part in parts:
        key = compact(part)
        if key not in seen:
            seen.add(key)
            out.append(part)
    return out


def _set_elements(parts: list[str]) -> list[str]:
    """The elements of a lone set ``\\{a, b\\}`` (or ``{a, b}``, as models write sets); other parts unchanged."""
    b = bracketed(parts[0]) if len(parts) == 1 else None
    return _distinct(top_level_parts(b[1])) if b is not None and b[0] in ("\\{", "{") and b[1].strip() else parts


def _same_collection(pp: list[str], gp: list[str], oracle: Oracle) -> bool:
    """Every ground-truth part matched by its own answer part, in any order."""
    if len(gp) > _MAX_PARTS:
        return sorted(map(compact, pp)) == sorted(map(compact, gp))
    left = list(pp)
    for g in gp:
        for i, p in enumerate(left):
            if decide(p, g, oracle):
                del left[i]
                break
        else:
            return False
    return True


_PROSE = re.compile(r"(?:^|(?<=[\s0-9})\]°%']))[A-Za-z]{2,}(?:[\s'\-,;.]+[A-Za-z]+)*[\s.!?]*$")
_FUNCTION_WORDS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "arcsin", "arccos",
                             "arctan", "sinh", "cosh", "tanh", "lg"})


def _whole_numbers(p: str, pval: float, g: str, gval: float) -> bool:
    """Both answers written as numbers (not ``\\frac{30}{3}``) with whole values: ``10001``, ``10,001``,
    ``10001.0``, ``1.5 \\times 10^3``."""
    return (written_step(p) is not None and written_step(g) is not None and pval.is_integer()
            and gval.is_integer())


def _trailing_prose(s: str) -> bool:
    """Whether ``s`` is a value followed by words: ``5 apples``, ``5 because the triangle is isosceles``
    (not a function name: ``2 \\sin x`` has no prose)."""
    m = _PROSE.search(s)
    if m is None or m.start() == 0 or not re.search(r"[0-9})\]°%']\s*$", s[: m.start()]):
        return False
    return not set(re.findall(r"[A-Za-z]+", m.group().lower())) <= _FUNCTION_WORDS


def _interval_like(s: str) -> bool:
    return bracketed(s) is not None or len(union_parts(s)) > 1
