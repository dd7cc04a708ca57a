"""Answer grader for ViRL39K-style data (``\\boxed{}`` answers), in verl's custom-reward signature.

``reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score``

Returns ``{"score", "acc" (0/1), "format" (0/1), "pred", "benchmark"}``; ``score`` equals ``acc`` (the
``mupo`` reward manager composes the reward from ``acc`` and ``format``). Safe to call from many
threads at once (verl's reward loop does); symbolic checks run in worker processes with a time
budget each (:mod:`verl_mupo.grading.pool`, settings in :mod:`verl_mupo.grading.settings`). The rules,
with their cases and the agreement with math-verify's and MathRuler's test suites, are in
``docs/grader.md``.

Matching, in order (the first rule that decides, decides; :mod:`verl_mupo.grading.rules` holds them as one
table with examples, and docs/grader.md's table is made from it):

0. what a reader cannot see is not read: invisible format characters, ``\\phantom``, white text and
   TeX comments are removed first (:mod:`verl_mupo.grading.visible`);
1. the answer is the content of the *last* ``\\boxed{...}`` whose braces close; no box, no credit;
   an answer longer than ``VERL_MUPO_GRADER_MAX_ANSWER_CHARS`` (1000) is wrong; a ground truth that
   is a missing value (``None``, NaN, ``nan``, ``None``, ``null``, blank, ``\\boxed{}``) gives no
   credit to any answer (logged once);
2. presentation is removed from both sides (``\\text{}``, ``\\left``/``\\right``, LaTeX spacing,
   ``\\dfrac``, ``$``, Unicode symbols: :func:`verl_mupo.grading.latex.clean`);
3. multiple choice (the ground truth is a letter A-J, or several): the same letter(s) in any common
   spelling, or the text of the right option when the options are known or the ground truth gives
   it (``A. 12 cm``) (:mod:`verl_mupo.grading.choices`); two letters for one is wrong, also a second
   option after the first one's text (``A. 12 or B. 13``);
4. yes/no ground truths: the same word alone (``yes``/``true``, ``no``/``false``);
5. equal strings (up to whitespace) are equal;
6. several answers in one (``8, 9``, ``8 \\text{ or } 9``, ``\\pm 2``) must be as many as the ground
   truth's, matched in any order: a hedge is wrong unless the ground truth is that list;
7. ``x = 3`` answers ``3`` and the other way round; two different names (``x = 3``, ``y = 3``) differ;
   a chain of ``=`` and ``\\approx`` answers with any of its sides unless it is false (``2 + 2 = 5``,
   ``\\frac{1}{3} \\approx 1.3``: :mod:`verl_mupo.grading.chains`); a relation is not a value
   (``\\ge 5``, ``\\ne 5``, ``x \\sim 5``);
8. a unit from the closed list (:mod:`verl_mupo.grading.units`: lengths, areas, volumes, angles,
   percent, currency, time, mass, speed) is removed; a count word (``apples``) only when the ground
   truth ends with it; never ``\\pi``, ``i``, ``e``, ``\\sqrt`` or a variable. Different listed units
   differ (``12 cm`` is not ``12 m``);
9. tuples and intervals element by element with the same brackets, sets (``\\{\\}``) and unions in
   any order; a one-variable order relation is its interval (``x > 3`` is ``(3, \\infty)``,
   ``x \\in [1, 2)`` is ``[1, 2)``);
10. constants (``12``, ``1,000``, ``\\frac{3}{4}``, ``2\\sqrt{3}``, ``12\\pi``) are evaluated; two integers
    are equal exactly, other values within a relative 1e-4 (:mod:`verl_mupo.grading.numeric`); ``50%``
    equals ``50`` and ``0.5``;
11. words (``triangle``) compare case-blind without a leading article; a value followed by words the
    ground truth does not have is wrong (``5 apples``, ``5 because the triangle is isosceles``);
12. expressions in variables the evaluator reads are compared at four points (``x + 1`` and ``1 + x``;
    ``2x`` is not ``2``), equations up to a constant factor (``y = 2x + 4``, ``2x - y + 4 = 0``);
13. anything else goes to math-verify (trigonometry, logarithms, ``e``, ``i``, matrices), within the
    response's wall-time budget (``response_budget_s``, 1 s, from the call of :func:`compute_score`);
    a check that runs out of time is wrong.

Throughout: when the ground truth is a number, arithmetic left to do on literal numbers is wrong
(``2^{10}`` for 1024: :mod:`verl_mupo.grading.values`), and an answer copied from
``extra_info["question"]`` that is not the ground truth's own form is wrong. One answer makes at most
    :data:`MAX_SYMBOLIC_CHECKS` (16) checks, on sides of at most ``max_answer_chars`` characters.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

from verl_mupo.data.rows import ground_truth_of
from verl_mupo.grading.boxed import last_boxed
from verl_mupo.grading.choices import answer_letters, option_texts, truth_letters, truth_option, yes_no
from verl_mupo.grading.chains import chain_answers, is_chain
from verl_mupo.grading.latex import clean, compact, is_words, words
from verl_mupo.grading.numeric import evaluate, same_equation, same_function, values_equal, written_step
from verl_mupo.grading.pool import GraderUnavailable, apply_reward_kwargs, current_settings, symbolic_check
from verl_mupo.grading.settings import GraderSettingsError
from verl_mupo.grading.structure import (bracket_depths, bracketed, has_relation, named_tuples, relation_interval, relation_union,
                                         split_name, strip_point_name, top_level_parts, union_parts)
from verl_mupo.grading.units import same_count_word, split_count_word, split_unit
from verl_mupo.grading.values import copied_from_question, is_number_value, unevaluated
from verl_mupo.grading.visible import visible
from verl_mupo.text import has_valid_format

__all__ = ["compute_score", "last_boxed", "grade", "has_valid_format", "GroundTruthError"]

logger = logging.getLogger(__name__)
_MAX_PARTS = 12  # more parts than this are compared as text only
#: symbolic checks one answer may make (a list is compared part by part); later ones count as different,
#: so one hostile answer costs at most this many check budgets
MAX_SYMBOLIC_CHECKS = 16
#: an answer nesting brackets or braces deeper than this is wrong without checks (no right answer
#: nests 24 deep; each level costs every rule a pass, and sympy recursion)
MAX_NESTING = 24


def _no_symbolic(pred: str, gt: str) -> bool:
    return False


def _bounded_oracle(max_checks: int, max_chars: int, until: float):
    """:func:`symbolic_check` for one answer: at most ``max_checks`` calls, none on a side longer than
    ``max_chars`` (the cap on what reaches math-verify), none after ``until`` (``time.monotonic()``:
    the end of the response's wall-time budget, which bounds each check too); beyond any, not
    equivalent."""
    left = [max_checks]

    def oracle(pred: str, gt: str) -> bool | None:
        if left[0] <= 0 or len(pred) > max_chars or len(gt) > max_chars or time.monotonic() >= until:
            return False
        left[0] -= 1
        return symbolic_check(pred, gt, until)

    return oracle


def _decide(p: str, g: str, oracle) -> bool:
    verdict = _compare(p, g, oracle)
    return bool(oracle(*verdict)) if isinstance(verdict, tuple) else verdict


def _compare(p: str, g: str, oracle) -> bool | tuple[str, str]:
    """Rules 5-11 on two cleaned answers: ``True``/``False``, or the pair left for math-verify (names
    and units removed)."""
    if compact(p) == compact(g):
        return True
    p, g = _same_notation(p, g)
    pp, gp = _distinct(top_level_parts(p)), _distinct(top_level_parts(g))
    if len(pp) != len(gp):
        pp, gp = _set_elements(pp), _set_elements(gp)  # \{1, 2\} answered by 1, 2 and the other way round
        if len(pp) != len(gp) or len(gp) < 2:
            return False  # a hedge (8 or 9 for 8) or missing answers
    if len(gp) > 1:
        return _same_collection(pp, gp, oracle)
    return _compare_one(pp[0], gp[0], oracle) if pp and gp else False


def _same_notation(p: str, g: str) -> tuple[str, str]:
    """Right answers in another notation, rewritten to the ground truth's: relations joined by "or" as
    a union of intervals (``x < -1 or x > 3``; ``|z|`` between bounds is two intervals: in
    :func:`relation_interval`), solutions as named values (``p=5,q=2;p=7,q=2``) as tuples when the
    other side writes tuples without names."""
    p, g = relation_union(p) or p, relation_union(g) or g
    if "(" in g and "=" not in g:
        p = named_tuples(p) or p
    elif "(" in p and "=" not in p:
        g = named_tuples(g) or g
    return p, g


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


def _same_collection(pp: list[str], gp: list[str], oracle) -> bool:
    """Every ground-truth part matched by its own answer part, in any order."""
    if len(gp) > _MAX_PARTS:
        return sorted(map(compact, pp)) == sorted(map(compact, gp))
    left = list(pp)
    for g in gp:
        for i, p in enumerate(left):
            if _decide(p, g, oracle):
                del left[i]
                break
        else:
            return False
    return True


def _compare_one(p: str, g: str, oracle) -> bool | tuple[str, str]:
    if not is_chain(g):
        answers = chain_answers(p)  # 2 \\times 3 = 6 cm, x = \\frac{1}{3} \\approx 0.33, 2 + 2 = 5 (false)
        if answers is not None:
            return any(_decide(a, g, oracle) for a in answers)
    pn, pv = split_name(p)
    gn, gv = split_name(g)
    if pn is not None and gn is not None:
        if compact(pn) != compact(gn):
            return False  # x = 3 is not y = 3
        p, g = pv, gv
    elif pn is not None and "=" not in g:
        p = pv
    elif gn is not None and "=" not in p:
        g = gv
    if compact(p) == compact(g):
        return True

    p, pu = split_unit(p)
    g, gu = split_unit(g)
    if gu is None:
        g_core, word = split_count_word(g)
        if word is not None:
            p_core, p_word = split_count_word(p)
            if p_word is not None and not same_count_word(p_word, word):
                return False
            p, g = p_core, g_core
    if pu is not None and gu is not None and pu != gu and "%" not in (pu, gu):
        return False  # 12 cm is not 12 m
    if compact(p) == compact(g) and "%" not in (pu, gu):
        return True

    p, g = strip_point_name(p), strip_point_name(g)
    pr, gr = relation_interval(p), relation_interval(g)
    if (pr is not None or gr is not None) and (pr or _interval_like(p)) and (gr or _interval_like(g)):
        p, g = pr or p, gr or g  # x > 3 is (3, \infty)
        if compact(p) == compact(g):
            return True
    if has_relation(p) != has_relation(g):
        return False  # \ge 5, \ne 5, x > 5, 8 \approx 9 state a relation, not the value 5
    if is_number_value(g) and unevaluated(p) is not None:
        return False  # 2^{10} for 1024: arithmetic left to do is not a final answer (grading/values.py)
    pg, gg = union_parts(p), union_parts(g)
    if len(pg) > 1 or len(gg) > 1:
        return len(pg) == len(gg) and _same_collection(pg, gg, oracle)
    pb, gb = bracketed(p), bracketed(g)
    if pb is not None or gb is not None:
        verdict = _compare_brackets(p, pb, g, gb, oracle)
        if verdict is not None:
            return verdict

    pval, gval = evaluate(p), evaluate(g)
    if pval is not None and gval is not None:
        if _whole_numbers(p, pval, g, gval) and (pu == "%") == (gu == "%"):
            return pval == gval  # integers exactly: 10001 is not 10000
        return _numbers_equal(pval, pu, gval, gu)
    if is_words(p) or is_words(g):
        return is_words(p) and is_words(g) and words(p) == words(g)
    if _trailing_prose(p) and not _trailing_prose(g):
        return False  # 5 apples, 5 because the triangle is isosceles: words the ground truth does not have
    same = same_equation(p, g) if "=" in p and "=" in g else same_function(p, g)
    return (p, g) if same is None else same


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


_SAME_BRACKET = {"\\langle": "(", "\\rangle": ")"}


def _compare_brackets(p, pb, g, gb, oracle) -> bool | None:
    """Tuples, intervals and sets; a bracket around one element only is dropped (``(x+1)`` is ``x+1``)."""
    pe = top_level_parts(pb[1]) if pb else None
    ge = top_level_parts(gb[1]) if gb else None
    if pb is not None and len(pe) == 1 and (gb is None or len(ge) == 1):
        return _decide(pb[1], gb[1] if gb else g, oracle) if pb[1].strip() else False
    if gb is not None and len(ge) == 1 and pb is None:
        return _decide(p, gb[1], oracle) if gb[1].strip() else False
    if pb is None or gb is None or len(pe) != len(ge):
        return False  # a tuple against a single value, or tuples of different lengths
    po, pc = (_SAME_BRACKET.get(x, x) for x in (pb[0], pb[2]))
    go, gc = (_SAME_BRACKET.get(x, x) for x in (gb[0], gb[2]))
    if "\\{" in (po, go):
        return po == go and _same_collection(pe, ge, oracle)  # sets: any order
    if (po, pc) != (go, gc):
        return False  # [1, 2) is not (1, 2]
    return all(_decide(a, b, oracle) for a, b in zip(pe, ge))


def _numbers_equal(a: float, au: str | None, b: float, bu: str | None) -> bool:
    """Equal values; a percent on one side only may be read either way (``50%`` is ``50`` and ``0.5``)."""
    if (au == "%") == (bu == "%"):
        return values_equal(a, b)
    if au == "%":
        return values_equal(a, b) or values_equal(a / 100.0, b)
    return values_equal(a, b) or values_equal(a, b / 100.0)


#: of a response's wall-time budget, what is kept for reading it (box, format, cheap rules) after its checks
RESERVE_S = 0.1


def grade(pred: str, ground_truth: str, extra_info=None, symbolic: bool = True, deadline: float | None = None) -> bool:
    """Whether the extracted answer ``pred`` matches ``ground_truth`` (rules 2-13 above).

    ``ground_truth`` may be boxed (ViRL39K's raw answers are). ``extra_info`` may carry ``options``
    (a list, A first, or a dict), ``question`` (options read from ``A. ...`` lines) and ``answer_type``
    (``choices`` lets ``AC`` mean A and C; ``text``/``number`` turn the letter rule off). With
    ``symbolic=False`` math-verify is never called (undecided answers are wrong). ``deadline``
    (``time.monotonic()``) ends every symbolic check of this answer, waiting for a worker included
    (default: ``response_budget_s`` from now); a check not done by then is refused (wrong).
    """
    gt = _truth_text(ground_truth)
    if gt is None:
        _announce_missing(ground_truth)
    if pred is None or gt is None:
        return False
    pred = str(pred)  # not stripped before clean(): a TeX comment ends at its line break
    settings = current_settings()
    until = time.monotonic() + settings.response_budget_s if deadline is None else deadline
    max_chars = settings.max_answer_chars
    if not pred.strip() or not gt or len(pred) > max_chars:
        return False
    p, g = clean(pred), clean(gt)
    if not p or not g or max(bracket_depths(p)) > MAX_NESTING:
        return False
    oracle = _bounded_oracle(MAX_SYMBOLIC_CHECKS, max_chars, until) if symbolic else _no_symbolic
    info = extra_info if isinstance(extra_info, Mapping) else {}
    answer_type = info.get("answer_type") if isinstance(info.get("answer_type"), str) else None
    letters, truth_text = None, None
    if answer_type in (None, "", "choice", "choices"):
        letters = truth_letters(g, answer_type)
        if letters is None and (option := truth_option(g)) is not None:
            letters, truth_text = frozenset(option[0]), option[1]  # a ground truth "A. 12 cm"
    if letters:
        if compact(p) == compact(g):
            return True  # the ground truth as written (A. E)
        texts = dict(option_texts(info))
        if truth_text is not None:
            texts[next(iter(letters))] = truth_text
        texts = {k: clean(v) for k, v in texts.items()}
        named = answer_letters(p, several=len(letters) > 1 or answer_type == "choices", texts=texts)
        if named is not None:
            return named == letters
        text = texts.get(next(iter(letters))) if len(letters) == 1 else None
        return bool(text) and _decide(p, text, oracle)
    yn = yes_no(g)
    if yn is not None:
        return yes_no(p) == yn
    question = info.get("question")
    if isinstance(question, str) and not option_texts(info) and copied_from_question(p, g, question):
        return False  # the question's own expression restated (grading/values.py)
    return _decide(p, g, oracle)


class GroundTruthError(TypeError):
    """A ground truth the grader cannot take: several values where one answer is expected."""


def _one_truth(ground_truth):
    """The ground truth as one value: a sequence of one value (a parquet list or array cell) is that
    value, an empty one is missing; several values raise :class:`GroundTruthError` (which answer is
    meant, any or all, is not the grader's guess to make)."""
    if ground_truth is None or isinstance(ground_truth, (str, bytes, int, float)) or isinstance(ground_truth, Mapping):
        return ground_truth
    if not hasattr(ground_truth, "__len__") or getattr(ground_truth, "ndim", 1) == 0:
        return ground_truth  # a numpy scalar and the like
    values = list(ground_truth)
    if len(values) > 1:
        raise GroundTruthError(f"ground truth {ground_truth!r:.80} holds {len(values)} values; the grader takes one "
                               f"answer: write reward_model.ground_truth as one string (a list answer as '1, 2')")
    return values[0] if values else None


def _truth_text(ground_truth) -> str | None:
    """The ground truth's answer: the content of its last box if it has one (found in linear time,
    also through thousands of nested boxes), as the data tools write it
    (:func:`verl_mupo.data.rows.ground_truth_of`: ``12.0`` -> ``12``); ``None`` for a missing value."""
    ground_truth = _one_truth(ground_truth)
    if isinstance(ground_truth, str):
        inner = last_boxed(ground_truth)
        ground_truth = inner if inner is not None else ground_truth
    return ground_truth_of(ground_truth)


_warned_missing = False


def _announce_missing(ground_truth) -> None:
    """Log once per process that a ground truth is a missing value (``None``, NaN, blank, the words
    ``nan``/``None``/``null``, an empty ``\\boxed{}``: the data tools' rule,
    :func:`verl_mupo.data.rows.ground_truth_of`). Every answer to it is wrong: a model answering
    ``nan`` earns nothing."""
    global _warned_missing
    if not _warned_missing:
        _warned_missing = True
        logger.warning("verl_mupo grader: ground truth %.80r is a missing value; every answer to it is graded 0 "
                       "(said once; later ones too). The data converters reject such rows (docs/data.md); check "
                       "reward_model.ground_truth in the data files.", ground_truth)


_warned_errors: set[str] = set()


def compute_score(data_source=None, solution_str="", ground_truth="", extra_info=None, **kwargs) -> dict:
    """verl's custom-reward signature. ``{"score": acc, "acc": 0/1, "format": 0/1, "pred": str,
    "benchmark": str}``; ``pred`` (the boxed answer) feeds verl's maj@N validation metric and
    ``benchmark`` (the row's ``data_source``) lands in verl's validation dumps for the acc@k report
    (string values are not averaged by verl). It is not called ``data_source``: verl's legacy trainer
    merges the reward's extras into a batch that already holds the dataset's ``data_source``, and
    ``DataProto.union`` refuses a second column of that name.

    Keyword arguments are the grader's settings from ``reward.custom_reward_function.reward_kwargs``
    (``workers``, ``timeout_s``, ``max_answer_chars``, ``response_budget_s``: over the
    ``VERL_MUPO_GRADER_*`` environment variables, held by the process; an unknown name raises).

    Garbage input scores 0 and never raises; a grader that cannot work (a bad ``VERL_MUPO_GRADER_*``
    setting, math-verify missing, a ground truth of several values) raises, so a run never trains on
    silent zeros.
    """
    text = solution_str if isinstance(solution_str, str) else ("" if solution_str is None else str(solution_str))
    budget = (apply_reward_kwargs(kwargs) if kwargs else current_settings()).response_budget_s
    deadline = time.monotonic() + budget - min(RESERVE_S, budget / 2)  # the rest reads the text
    text = visible(text)  # invisible characters, phantoms and white text are not read (grading.visible)
    pred = last_boxed(text)
    try:
        acc = float(pred is not None and grade(pred, ground_truth, extra_info, deadline=deadline))
    except (GraderSettingsError, GraderUnavailable, GroundTruthError):
        raise
    except Exception as e:  # noqa: BLE001 - an answer the rules trip over is wrong, never a crash
        if type(e).__name__ not in _warned_errors:
            _warned_errors.add(type(e).__name__)
            logger.warning("verl_mupo grader: %r grading %.80r against %.80r; graded 0", e, pred, ground_truth)
        acc = 0.0
    return {"score": acc, "acc": acc, "format": float(has_valid_format(text)), "pred": "" if pred is None else pred,
            "benchmark": str(data_source)}

