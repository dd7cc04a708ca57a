"""Issue 19, the value rule: when the ground truth is a number, arithmetic left to do on literal numbers
is not a final answer; an answer copied from the question that is not the ground truth's own form is
wrong (verl_mupo/grading/values.py). The "not a value" cases were all paid before."""

import pytest

from verl_mupo.grading.values import copied_from_question, unevaluated
from verl_mupo.scoring import compute_score, grade

NOT_A_VALUE = [  # (ground truth, answer): paid before issue 19
    ("1024", "2^{10}"), ("391", "17 \\times 23"), ("391", "17 \\cdot 23"), ("391", "17*23"), ("120", "\\binom{10}{3}"),
    ("120", "\\dbinom{10}{3}"), ("120", "C_{10}^{3}"), ("120", "5!"), ("\\frac{1}{2}", "\\int_0^1 x\\,dx"),
    ("0.5", "\\int_{0}^{1} x dx"), ("10", "\\sum_{k=1}^{4} k"), ("1", "\\lim_{n \\to \\infty} \\frac{n}{n+1}"),
    ("7", "3 + 4"), ("\\frac{5}{6}", "\\frac{1}{2} + \\frac{1}{3}"), ("-8", "(-2)^3"), ("\\frac{1}{3}", "3^{-1}"),
    ("3", "6 \\div 2"), ("12", "(3)(4)"), ("4", "\\sqrt{16}"), ("10", "2\\sqrt{25}"), ("99", "100 - 1"),
    ("1024", "2^{10} \\text{ cm}"), ("25\\%", "\\frac{1}{4} \\times 100\\%"), ("1024", "x = 2^{10}"),
    ("(1024, 6)", "(2^{10}, 6)"), ("1024, 6", "6, 2^{10}"), ("6", "2 \\times 3 \\times 10^0"),
]
VALUES = [  # (ground truth, answer): right before and after
    ("0.5", "\\frac{1}{2}"), ("3", "\\frac{12}{4}"), ("3.4641", "2\\sqrt{3}"), ("2\\sqrt{3}", "\\sqrt{12}"),
    ("37.699", "12\\pi"), ("0.5236", "\\frac{\\pi}{6}"), ("1500", "1.5 \\times 10^{3}"), ("0.001", "10^{-3}"),
    ("0.5", "50\\%"), ("6", "2 \\times 3 = 6"), ("391", "17 \\times 23 = 391"), ("1024", "2^{10} = 1024"),
    ("3.7321", "2 + \\sqrt{3}"), ("3.4336", "16 - 4\\pi"), ("-5", "-5"), ("1024", "1,024"),
    ("2^{10}", "2^{10}"),  # the ground truth's own form
    ("x^2 + 2x + 1", "(x+1)^2"),  # the ground truth is not a number: the rule is off
]


@pytest.mark.parametrize("truth, answer", NOT_A_VALUE)
def test_arithmetic_left_to_do_is_not_a_final_answer(truth, answer):
    assert grade(answer, truth) is False


@pytest.mark.parametrize("truth, answer", VALUES)
def test_values_stay_right(truth, answer):
    assert grade(answer, truth) is True


@pytest.mark.parametrize("answer, kind", [("2^{10}", "power"), ("17 \\times 23", "product"), ("3 + 4", "sum"),
                                          ("5!", "operator"), ("\\sqrt{16}", "root"), ("1.5 \\times 10^3", None),
                                          ("2\\sqrt{3}", None), ("x^2 + 1", None), ("\\ln 2", None)])
def test_unevaluated_names_what_is_left(answer, kind):
    assert unevaluated(answer) == kind


QUESTION = {"question": "Expand (x-1)(x+1) and simplify the result."}


def test_an_answer_copied_from_the_question_is_wrong():
    assert grade("(x-1)(x+1)", "x^2 - 1") is True  # without the question it is the same polynomial
    assert grade("(x-1)(x+1)", "x^2 - 1", QUESTION) is False
    assert grade("x^2 - 1", "x^2 - 1", QUESTION) is True and grade("x^2-1", "x^2 - 1", QUESTION) is True
    out = compute_score("t", "<think>r</think> \\boxed{(x-1)(x+1)}", "x^2 - 1", QUESTION)
    assert out["acc"] == 0.0


def test_copies_that_are_not_restatements():
    q = "The side is \\frac{1}{2} of 2x + 3, and y = 2x; options follow."
    assert not copied_from_question("\\frac{1}{2}", "0.5", q)  # a value
    assert not copied_from_question("2x", "x \\cdot 2", q)  # too short to be a copy
    assert not copied_from_question("2x + 3", "2x + 3", q)  # the ground truth's own form
    opts = {"question": "Which equals (x-1)(x+1)?\nA. (x-1)(x+1)\nB. x^2 + 1", "answer_type": "text"}
    assert grade("(x-1)(x+1)", "(x-1)(x+1)", opts) is True
