"""Answer grader for ViRL39K-style data (``\\boxed{}`` answers), in verl's custom-reward signature.

``reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score``

Returns ``{"score", "acc" (0/1), "format" (0/1), "pred", "benchmark"}``; ``score`` equals ``acc`` (the
``mupo`` reward manager composes the reward from ``acc`` and ``format``). Safe to call from many
threads at once (verl's reward loop does); symbolic checks run in worker processes with a time
budget each (:mod:`verl_mupo.grading.pool`, settings in :mod:`verl_mupo.grading.settings`). The rules,
with their cases and the agreement with math-verify's and MathRuler's test suites, are in
``docs/grader.md``.

Matching, in order (the first rule that decides, decides; :mod:`verl_mupo.grading.rules` describes every
rule, with right and wrong examples, as one table, and docs/grader.md's table is made from it):

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
5. the comparison table, :data:`verl_mupo.grading.compare.TABLE`: named rules walked in order, each
   paying, refusing, passing, or rewriting the pair for the next (``x = 3`` against ``3`` goes on as
   ``3``): equal text, several answers (a hedge is wrong), chains of ``=`` and ``\\approx`` (a false
   one is wrong), named values, units, count words, point names, relations as intervals (a relation
   is not a value), arithmetic left to do (wrong for a numeric ground truth), unions, tuples and
   intervals, numbers (integers exactly, else within a relative 1e-4), words, trailing prose (wrong),
   equations and expressions (sampled), and last math-verify, within the response's wall-time budget
   (``response_budget_s``, 1 s, from the call of :func:`compute_score`; a check that runs out of
   time is wrong).

Before the table, an answer copied from ``extra_info["question"]`` that is not the ground truth's own
form is wrong (:mod:`verl_mupo.grading.values`). One answer makes at most :data:`MAX_SYMBOLIC_CHECKS`
(16) checks, on sides of at most ``max_answer_chars`` characters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from verl_mupo.data.rows import ground_truth_of
from verl_mupo.grading.boxed import last_boxed
from verl_mupo.grading.choices import answer_letters, option_texts, truth_letters, truth_option, yes_no
from verl_mupo.grading.compare import decide
from verl_mupo.grading.latex import clean, compact
from verl_mupo.grading.pool import GraderUnavailable, apply_reward_kwargs, current_settings, symbolic_check
from verl_mupo.grading.settings import GraderSettingsError
from verl_mupo.grading.structure import bracket_depths
from verl_mupo.grading.values import copied_from_question
from verl_mupo.grading.visible import visible
from verl_mupo.text import has_valid_format

__all__ = ["compute_score", "last_boxed", "grade", "has_valid_format", "GroundTruthError"]

logger = logging.getLogger(__name__)
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


#: of a response's wall-time budget, what is kept for reading it (box, format, cheap rules) after its checks
RESERVE_S = 0.1


def grade(pred: str, ground_truth: str, extra_info=None, symbolic: bool = True, deadline: float | None = None) -> bool:
    """Whether the extracted answer ``pred`` matches ``ground_truth`` (rules 2-5 above).

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
        return bool(text) and decide(p, text, oracle)
    yn = yes_no(g)
    if yn is not None:
        return yes_no(p) == yn
    question = info.get("question")
    if isinstance(question, str) and not option_texts(info) and copied_from_question(p, g, question):
        return False  # the question's own expression restated (grading/values.py)
    return decide(p, g, oracle)


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

