"""Answer scorer for ViRL39K-style data (``\\boxed{}`` answers), in verl's custom-reward signature.

``reward.custom_reward_function.path=pkg://verl_mupo.scoring reward.custom_reward_function.name=compute_score``

Returns ``{"score", "acc" (0/1), "format" (0/1), "pred", "data_source"}``; ``score`` equals ``acc`` (the ``mupo`` reward
manager composes the reward from ``acc`` and ``format``). Never raises on garbage input; math
equivalence runs with a time bound.

Matching, in order (the first rule that applies decides):

1. the prediction is the content of the *last* ``\\boxed{...}`` (nested braces allowed); no box, no
   credit;
2. multiple choice (the ground truth is a single option letter A-J): the prediction's letter in any
   common spelling (``C``, ``(C)``, ``C.``, ``C: text``, ``\\text{C}``, ``option C``), or the text of
   option C when the options are known (``extra_info["options"]`` or parsed from the question);
3. yes/no ground truths: the same word (``yes``/``true``/``correct`` ...);
4. numbers: equal after removing units, thousands separators, ``%``, ``\\$`` and degree signs,
   within a relative tolerance of 1e-4 (``50%`` also equals ``0.5``);
5. normalised strings equal (LaTeX spacing, ``\\left``/``\\right``, ``\\dfrac`` -> ``\\frac`` ...);
6. math-verify equivalence (fractions, roots, expressions, intervals), mathruler as fallback.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import re
import threading

__all__ = ["compute_score", "last_boxed", "grade", "has_valid_format"]

from verl_mupo.text import has_valid_format

MATH_VERIFY_TIMEOUT_S = 5.0
_LETTERS = "ABCDEFGHIJ"


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; ``None`` if absent.

    Not verl's ``math_reward.last_boxed_only_string`` + ``remove_boxed``: those keep the braces of
    ``\\boxed {7}`` and assert on ``\\fbox{7}``."""
    if not isinstance(text, str):
        return None
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start : i - 1].strip()
    return None


def _strip_text_macros(s: str) -> str:
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    return s


def _normalise(s: str) -> str:
    s = _strip_text_macros(s)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", "").replace("$", "")
    s = re.sub(r"\^\{?\\circ\}?|°|\\degree", "", s)
    s = s.strip().rstrip(".").strip()
    s = re.sub(r"\s+", "", s)
    return s.lower()


_MC_PATTERNS = [
    r"^\(?([A-J])\)?$",  # C, (C)
    r"^\(?([A-J])\)?[.:：)]",  # C. / C: text / C) text
    r"^(?:option|choice|answer)\s*:?\s*\(?([A-J])\)?\b",  # option C
]


def _mc_letter(pred: str) -> str | None:
    p = _strip_text_macros(pred).strip().strip("$").strip()
    for pat in _MC_PATTERNS:
        m = re.match(pat, p, flags=re.IGNORECASE)
        if m:
            return m.group(1).upper()
    return None


def _options(extra_info) -> dict[str, str]:
    """Option letter -> text, from ``extra_info["options"]`` (list or dict) or the question text."""
    if not isinstance(extra_info, dict):
        return {}
    opts = extra_info.get("options") or extra_info.get("choices")
    if isinstance(opts, dict):
        return {str(k).strip().upper()[:1]: str(v) for k, v in opts.items()}
    if isinstance(opts, (list, tuple)):
        return {_LETTERS[i]: str(v) for i, v in enumerate(opts[: len(_LETTERS)])}
    q = extra_info.get("question") or ""
    found = re.findall(r"(?:^|\n|\s)\(?([A-J])[).:]\s*([^\n]+?)(?=\s+\(?[A-J][).:]\s|\n|$)", str(q))
    return {k: v.strip() for k, v in found}


_YES = {"yes", "true", "correct", "right", "y"}
_NO = {"no", "false", "incorrect", "wrong", "n"}


def _yes_no(s: str) -> str | None:
    w = re.sub(r"[^a-z]", "", _strip_text_macros(s).lower())
    return "yes" if w in _YES else "no" if w in _NO else None


def _number(s: str) -> float | None:
    t = _strip_text_macros(s)
    t = re.sub(r"\^\{?\\circ\}?|°|\\degree|\\%|%|\\\$|\$|,(?=\d{3}\b)", lambda m: "%" if "%" in m.group(0) else "", t)
    pct = t.strip().endswith("%")
    t = t.replace("%", "").strip()
    t = re.sub(r"\s*(?:[a-zA-Z]+\^?\d?|\\[a-zA-Z]+)\s*$", "", t) if re.match(r"^-?[\d.]+\s*[a-zA-Z\\]", t) else t
    frac = re.fullmatch(r"(-?)\\frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}", t.replace(" ", ""))
    try:
        if frac:
            v = float(frac.group(2)) / float(frac.group(3)) * (-1 if frac.group(1) else 1)
        elif re.fullmatch(r"-?\d+/\d+", t.replace(" ", "")):
            a, b = t.replace(" ", "").split("/")
            v = float(a) / float(b)
        elif re.fullmatch(r"-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?", t.replace(" ", "")):
            v = float(t.replace(" ", ""))
        else:
            return None
    except (ValueError, ZeroDivisionError):
        return None
    return v / 100.0 if pct else v


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))


def _numbers_match(pred: str, gt: str) -> bool | None:
    a, b = _number(pred), _number(gt)
    if a is None or b is None:
        return None
    if _close(a, b):
        return True
    pct_pred, pct_gt = "%" in pred, "%" in gt
    if pct_pred != pct_gt:  # "50%" vs "50" or "0.5"
        return _close(a * 100, b) if pct_pred else _close(a, b * 100)
    return False


def _symbolic_equal(pred: str, gt: str) -> bool:
    try:
        from math_verify import parse, verify

        g = parse("$" + gt + "$", parsing_timeout=None)
        p = parse("$" + pred + "$", parsing_timeout=None)
        if g and p and verify(g, p, timeout_seconds=None):
            return True
    except Exception:  # noqa: BLE001 - garbage input is a mismatch
        pass
    try:
        from mathruler.grader import grade_answer

        return bool(grade_answer(pred, gt))
    except Exception:  # noqa: BLE001
        return False


_POOL: futures.ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _bounded_symbolic_equal(pred: str, gt: str, timeout: float = MATH_VERIFY_TIMEOUT_S) -> bool:
    """:func:`_symbolic_equal` in a worker process, abandoned after ``timeout`` seconds (math-verify's
    own timeouts use signals, which do not work in verl's reward threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool = _POOL
    try:
        return bool(pool.submit(_symbolic_equal, pred, gt).result(timeout=timeout))
    except futures.TimeoutError:
        with _POOL_LOCK:
            if _POOL is pool:
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()
                pool.shutdown(wait=False, cancel_futures=True)
                _POOL = None
        return False
    except Exception:  # noqa: BLE001 - a broken pool is a mismatch, and a fresh pool next time
        with _POOL_LOCK:
            if _POOL is pool:
                _POOL = None
        return False


def grade(pred: str, ground_truth: str, extra_info=None, symbolic: bool = True) -> bool:
    """Whether the extracted answer ``pred`` matches ``ground_truth`` (rules 2-6 above)."""
    if pred is None or ground_truth is None:
        return False
    pred, gt = str(pred).strip(), str(ground_truth).strip()
    inner = last_boxed(gt)
    gt = inner if inner is not None else gt
    if not pred or not gt:
        return False
    gt_letter = _mc_letter(gt) if len(_strip_text_macros(gt).strip("() .")) == 1 else None
    if gt_letter:
        letter = _mc_letter(pred)
        if letter is not None:
            return letter == gt_letter
        text = _options(extra_info).get(gt_letter)
        return text is not None and _normalise(text) == _normalise(pred)
    yn = _yes_no(gt)
    if yn is not None:
        return _yes_no(pred) == yn
    num = _numbers_match(pred, gt)
    if num is not None:
        return num
    if _normalise(pred) == _normalise(gt):
        return True
    return symbolic and _bounded_symbolic_equal(pred, gt)


def compute_score(data_source=None, solution_str="", ground_truth="", extra_info=None, **kwargs) -> dict:
    """verl's custom-reward signature. ``{"score": acc, "acc": 0/1, "format": 0/1, "pred": str,
    "data_source": str}``; ``pred`` (the boxed answer) feeds verl's maj@N validation metric and
    ``data_source`` lands in verl's validation dumps for the acc@k report (string values are not
    averaged by verl)."""
    pred = None
    try:
        text = solution_str if isinstance(solution_str, str) else str(solution_str)
        pred = last_boxed(text)
        acc = float(pred is not None and grade(pred, ground_truth, extra_info))
        fmt = float(has_valid_format(text))
    except Exception:  # noqa: BLE001 - never raise inside verl's reward loop
        acc, fmt = 0.0, 0.0
    return {"score": acc, "acc": acc, "format": fmt, "pred": "" if pred is None else str(pred),
            "data_source": str(data_source)}
