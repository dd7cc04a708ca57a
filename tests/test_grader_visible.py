"""Issue 19, the invisible-text rule: what a reader of the rendered answer cannot see is not read, and
presentation is not content (verl_mupo/grading/visible.py). Each case was graded the other way before."""

import time

import pytest

from grader_cases import THINK
from verl_mupo.grading.boxed import last_boxed
from verl_mupo.grading.visible import visible
from verl_mupo.scoring import compute_score, grade

HIDDEN_OR_4 = ["3\\phantom{\\text{ or } 4}", "3\\hphantom{\\text{ or } 4}", "3\\vphantom{\\text{ or } 4}",
               "3\\textcolor{white}{\\text{ or } 4}", "3{\\color{white}\\text{ or } 4}", "3 % 4\n",
               "3 % \\text{ or } 4\n"]


@pytest.mark.parametrize("answer", HIDDEN_OR_4)
def test_hidden_text_is_not_read(answer):
    assert grade(answer, "3") is True
    assert grade(answer, "4") is False
    # the same through the whole response, where the box holds the comment's line break
    out = compute_score("t", THINK + "\\boxed{" + answer + "}", "4")
    assert out["acc"] == 0.0


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\u2062", "\u2063", "\ufeff", "\u00ad"])
def test_invisible_format_characters_are_removed_first(char):
    answer = "3" + char + "4"  # shows 34
    assert grade(answer, "34") is True
    assert grade(answer, "3") is False
    assert compute_score("t", THINK + "\\bo" + char + "xed{" + answer + "}", "34")["acc"] == 1.0


@pytest.mark.parametrize("truth, answer", [
    ("3", "\\color{red}3"), ("3", "\\textcolor{red}{3}"), ("3", "\\textcolor{blue}{\\frac{6}{2}}"),
    ("3", "\\phantom{4}3"), ("B", "B\\phantom{C}"), ("0.5", "\u00bd"), ("\\frac{3}{4}", "\u00be"),
    ("2.5", "2\u00bd"), ("x = 3", "x = \\color{green}{3}"), ("50\\%", "50%"), ("20\\%, 30\\%", "20%, 30%"),
])
def test_presentation_reads_as_content(truth, answer):
    assert grade(answer, truth) is True


@pytest.mark.parametrize("text, box", [
    ("\\boxed 3", "3"), ("\\boxed3", "3"), ("\\boxed 34", "3"), ("\\boxed \\pi", "\\pi"),
    ("\\boxed{4} so \\boxed 3", "3"), ("\\boxed 4 so \\boxed{3}", "3"), ("\\boxed{3 % 4\n}", "3"),
])
def test_a_box_without_braces_boxes_one_token(text, box):
    assert last_boxed(text) == box


def test_a_box_without_braces_is_graded():
    assert compute_score("t", THINK + "\\boxed 3", "3")["acc"] == 1.0
    assert compute_score("t", THINK + "\\boxed 34", "34")["acc"] == 0.0  # LaTeX boxes the 3 only


def test_a_hidden_box_is_not_the_answer():
    assert compute_score("t", THINK + "\\boxed{3}\\phantom{\\boxed{4}}", "3")["acc"] == 1.0
    assert compute_score("t", THINK + "\\boxed{3}{\\color{white}\\boxed{4}}", "4")["acc"] == 0.0


def test_percent_signs_and_escaped_percent_are_not_comments():
    assert grade("50\\% \\text{ or } 4\n", "50\\%") is False  # \% is a percent sign, the rest is read
    assert grade("50%", "0.5") is True  # no line break after it: a percent sign


def test_hidden_text_is_linear():
    hostile = "\\phantom{" * 50_000 + "x" + "\\color{white}" * 20_000 + "\u200b" * 50_000
    start = time.perf_counter()
    visible(hostile)
    compute_score("t", hostile + "\\boxed{3}", "3")
    assert time.perf_counter() - start < 2.0
