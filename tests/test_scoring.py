"""The answer scorer: a table of realistic cases, including ones that must not match."""

import time

import pytest

from verl_mupo.scoring import compute_score, grade, last_boxed

T = "<think>reasoning</think> "

CASES = [
    # (response, ground truth, extra_info, expected acc)
    # multiple choice
    (T + "\\boxed{C}", "C", None, 1),
    (T + "\\boxed{(C)}", "C", None, 1),
    (T + "\\boxed{C.}", "C", None, 1),
    (T + "\\boxed{C: 12 cm}", "C", None, 1),
    (T + "\\boxed{\\text{C}}", "C", None, 1),
    (T + "\\boxed{c}", "C", None, 1),
    (T + "\\boxed{Option C}", "C", None, 1),
    (T + "\\boxed{B}", "C", None, 0),
    (T + "\\boxed{(B)}", "\\boxed{C}", None, 0),
    (T + "\\boxed{12 cm}", "C", {"options": ["10 cm", "11 cm", "12 cm", "13 cm"]}, 1),
    (T + "\\boxed{11 cm}", "C", {"options": ["10 cm", "11 cm", "12 cm", "13 cm"]}, 0),
    (T + "\\boxed{12 cm}", "C", {"question": "How long? A. 10 cm B. 11 cm C. 12 cm D. 13 cm"}, 1),
    (T + "\\boxed{A}", "\\boxed{A}", None, 1),
    (T + "\\boxed{D}", "D", None, 1),
    (T + "\\boxed{AB}", "A", None, 0),
    # yes / no
    (T + "\\boxed{Yes}", "Yes", None, 1),
    (T + "\\boxed{yes}", "Yes", None, 1),
    (T + "\\boxed{\\text{No}}", "no", None, 1),
    (T + "\\boxed{No}", "Yes", None, 0),
    (T + "\\boxed{True}", "yes", None, 1),
    (T + "\\boxed{false}", "No", None, 1),
    # integers and decimals
    (T + "\\boxed{7}", "7", None, 1),
    (T + "\\boxed{7.0}", "7", None, 1),
    (T + "\\boxed{8}", "7", None, 0),
    (T + "\\boxed{-3}", "-3", None, 1),
    (T + "\\boxed{3}", "-3", None, 0),
    (T + "\\boxed{1,000}", "1000", None, 1),
    (T + "\\boxed{0.5}", "0.50", None, 1),
    (T + "\\boxed{0.333}", "1/3", None, 0),
    (T + "\\boxed{3.14159}", "3.14159", None, 1),
    # units, percent, degrees, money
    (T + "\\boxed{12 cm}", "12", None, 1),
    (T + "\\boxed{12\\text{ cm}}", "12", None, 1),
    (T + "\\boxed{45^\\circ}", "45", None, 1),
    (T + "\\boxed{45°}", "45", None, 1),
    (T + "\\boxed{46^\\circ}", "45", None, 0),
    (T + "\\boxed{50\\%}", "50", None, 1),
    (T + "\\boxed{50\\%}", "0.5", None, 1),
    (T + "\\boxed{25\\%}", "0.5", None, 0),
    (T + "\\boxed{\\$15}", "15", None, 1),
    (T + "\\boxed{15 m^2}", "15", None, 1),
    # fractions and roots
    (T + "\\boxed{\\frac{1}{2}}", "0.5", None, 1),
    (T + "\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}", None, 1),
    (T + "\\boxed{1/2}", "\\frac{1}{2}", None, 1),
    (T + "\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", None, 1),
    (T + "\\boxed{\\frac{1}{3}}", "\\frac{1}{2}", None, 0),
    (T + "\\boxed{2\\sqrt{3}}", "\\sqrt{12}", None, 1),
    (T + "\\boxed{\\sqrt{3}}", "\\sqrt{2}", None, 0),
    (T + "\\boxed{4\\sqrt{2}}", "4\\sqrt{2}", None, 1),
    (T + "\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", None, 1),
    (T + "\\boxed{\\pi}", "\\pi", None, 1),
    (T + "\\boxed{2\\pi}", "\\pi", None, 0),
    # expressions and text
    (T + "\\boxed{x+1}", "1+x", None, 1),
    (T + "\\boxed{x^2}", "x^{2}", None, 1),
    (T + "\\boxed{2x}", "x", None, 0),
    (T + "\\boxed{(1, 2)}", "(1,2)", None, 1),
    (T + "\\boxed{\\text{triangle}}", "triangle", None, 1),
    (T + "\\boxed{square}", "triangle", None, 0),
    # nested braces, last box, garbage
    (T + "first \\boxed{3} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", None, 1),
    (T + "\\boxed{5} no wait \\boxed{6}", "5", None, 0),
    (T + "\\boxed{\\frac{3}{4}", "\\frac{3}{4}", None, 0),  # unbalanced
    (T + "the answer is 7", "7", None, 0),  # no box, no credit
    ("", "7", None, 0),
    (T + "\\boxed{}", "7", None, 0),
    (T + "\\boxed{\\boxed{7}}", "7", None, 1),
    (T + "\\fbox{7}", "7", None, 1),
]


@pytest.mark.parametrize("response, gt, extra, expected", CASES)
def test_scorer_table(response, gt, extra, expected):
    out = compute_score("virl39k", response, gt, extra)
    assert out["acc"] == expected, (response, gt, out)
    assert out["score"] == out["acc"]


def test_at_least_sixty_cases():
    assert len(CASES) >= 60 and sum(1 for c in CASES if c[3] == 0) >= 20


def test_last_boxed_nested():
    assert last_boxed("\\boxed{\\frac{1}{\\sqrt{2}}} and \\boxed{x^{2}}") == "x^{2}"
    assert last_boxed("nothing") is None


def test_format_flag():
    assert compute_score("x", "<think>a</think> \\boxed{1}", "1")["format"] == 1
    assert compute_score("x", "\\boxed{1}", "1")["format"] == 0
    assert compute_score("x", "\\boxed{1} <think>a</think>", "1")["format"] == 0


@pytest.mark.parametrize("garbage", [None, 12, b"\\boxed{1}", "\\boxed{" * 500, "\\boxed{" + "(" * 3000 + "}"])
def test_never_raises(garbage):
    out = compute_score("x", garbage, "1")
    assert out["acc"] in (0.0, 1.0)


def test_pathological_input_is_time_bounded():
    t0 = time.monotonic()
    grade("9" * 50 + "^" + "9" * 50 + "^" + "9" * 50, "x^{2}+\\frac{1}{2}")
    assert time.monotonic() - t0 < 30  # 5 s math-verify bound plus a worker start
