"""The grader's pieces one by one: box search, cleaning, units, numbers, structure, choices."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_mupo.grading.boxed import last_boxed
from verl_mupo.grading.choices import answer_letters, option_texts, truth_letters, yes_no
from verl_mupo.grading.latex import clean
from verl_mupo.grading.numeric import evaluate, same_equation, same_function, values_equal
from verl_mupo.grading.structure import bracketed, relation_interval, split_name, top_level_parts
from verl_mupo.grading.symbolic import hazard
from verl_mupo.grading.units import UNIT_KINDS, split_unit


def _quadratic_last_boxed(text):
    """The old scorer's search (every box start scanned forward to the end): the reference; a last box
    without braces (``\\boxed7``, ``\\boxed 7``) boxes its one token (issue 19)."""
    bare = re.search(r"\\(?:boxed|fbox)(?:\s+|(?=[^\sa-zA-Z{]))([^\s{}\\])(?!.*\\(?:boxed|fbox))", text, re.DOTALL)
    if bare:
        return bare.group(1)
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start: i - 1].strip()
    return None


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["\\boxed{", "\\fbox{", "{", "}", "x", " ", "\\boxed", "7"]), max_size=16).map("".join))
def test_last_boxed_equals_the_quadratic_reference(text):
    assert last_boxed(text) == _quadratic_last_boxed(text)


@pytest.mark.parametrize("raw, cleaned", [
    ("\\text{ 12 cm}", "12 cm"), ("\\left( 1, 2 \\right)", "( 1, 2 )"), ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("45^{\\circ}", "45°"), ("45^\\circ", "45°"), ("50\\%", "50%"), ("\\$15", "15"), ("$x$", "x"),
    ("x^{2}", "x^2"), ("14{,}916", "14,916"), ("16,\\!386.20", "16,386.20"), ("−3", "-3"), ("12.", "12"),
    ("\\(x+1\\)", "x+1"), ("x \\geq 3", "x \\ge 3"), ("\\varnothing", "\\emptyset"), ("(1, +\\infty)", "(1, \\infty)"),
    ("\\textbf{\\text{C}}", "C"), ("\\Delta", "\\Delta"),
    # escaped twice (math-verify's test_all.py:211, 675, 681, 748); a line break \\ stays
    ("\\\\left( 3, \\\\frac{\\\\pi}{2} \\\\right)", "( 3, \\frac{\\pi}{2} )"), ("x \\\\leq 3", "x \\le 3"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
])
def test_clean(raw, cleaned):
    assert clean(raw) == cleaned


@pytest.mark.parametrize("answer, core, unit", [
    ("12 cm", "12", "cm"), ("12cm", "12", "cm"), ("12 centimeters", "12", "cm"), ("15 m^2", "15", "m^2"),
    ("15 square units", "15", "unit^2"), ("8 cubic cm", "8", "cm^3"), ("45°", "45", "°"), ("50%", "50", "%"),
    ("28 pct", "28", "%"), ("60 km/h", "60", "km/h"), ("€15", "15", "€"), ("5 h", "5", "h"),
    ("3\\pi cm", "3\\pi", "cm"),
    # never a unit
    ("3\\pi", "3\\pi", None), ("2x", "2x", None), ("-2i", "-2i", None), ("2e", "2e", None), ("5m", "5m", None),
    ("rain", "rain", None), ("\\angle A", "\\angle A", None), ("2\\sqrt{3}", "2\\sqrt{3}", None),
])
def test_split_unit(answer, core, unit):
    assert split_unit(answer) == (core, unit)


def test_every_unit_has_a_kind():
    assert set(UNIT_KINDS.values()) >= {"length", "volume", "angle", "percent", "currency", "time", "mass", "speed"}


@pytest.mark.parametrize("answer, value", [
    ("12", 12.0), ("1,000", 1000.0), ("\\frac{3}{4}", 0.75), ("3/4", 0.75), ("2\\sqrt{3}", 2 * math.sqrt(3)),
    ("\\frac{\\sqrt{3}}{2}", math.sqrt(3) / 2), ("12\\pi", 12 * math.pi), ("\\sqrt[3]{8}", 2.0), ("2^{10}", 1024.0),
    ("1.5\\times 10^{3}", 1500.0), ("\\frac12", 0.5), ("-2^2", -4.0), (".5", 0.5),
    ("2x", None), ("2e", None), ("-2i", None), ("2\\frac{1}{2}", None), ("2^10", None), ("1,22", None),
    ("\\frac{1}{0}", None), ("10^{10000}", None), ("(-8)^{1/3}", None), ("\\sqrt{-1}", None),
])
def test_evaluate(answer, value):
    got = evaluate(answer)
    assert (got is None) if value is None else math.isclose(got, value, rel_tol=1e-12)


def test_values_equal_is_relative():
    assert values_equal(3.4641, 2 * math.sqrt(3)) and not values_equal(3.46, 2 * math.sqrt(3))
    assert not values_equal(0.0001, 0.0002) and values_equal(0.0, -0.0) and not values_equal(0.0, 1e-9)


@pytest.mark.parametrize("a, b, same", [
    ("x+1", "1+x", True), ("(x-1)(x+1)", "x^2-1", True), ("\\frac{x}{2}", "0.5x", True), ("2x", "2", False),
    ("x^2", "2x", False), ("(a+b+c+d)^{20}", "(a+b+c-d)^{20}", False), ("\\sqrt{a^2+b^2}", "a+b", False),
    ("\\sin x", "\\sin(x)", None), ("e^x", "e^x", None), ("2", "3", None),
])
def test_same_function(a, b, same):
    assert same_function(a, b) is same


@pytest.mark.parametrize("a, b, same", [
    ("2x-y+4=0", "y=2x+4", True), ("x=3", "3=x", True), ("x^2+y^2=25", "2x^2+2y^2=50", True),
    ("x=3", "x^2=9", False), ("y=2x+1", "y=2x-1", False), ("x \\le 3", "x=3", None), ("1=1", "2=2", None),
])
def test_same_equation(a, b, same):
    assert same_equation(a, b) is same


@pytest.mark.parametrize("s, parts", [
    ("8 or 9", ["8", "9"]), ("8, 9", ["8", "9"]), ("8 and 9", ["8", "9"]), ("1,000", ["1,000"]),
    ("(1, 2)", ["(1, 2)"]), ("\\pm 2", ["+ 2", "- 2"]), ("19, 46, and 82", ["19", "46", "82"]),
    ("[1, 2), (3, 4]", ["[1, 2)", "(3, 4]"]), ("x = 1 \\lor x = 2", ["x = 1", "x = 2"]),
])
def test_top_level_parts(s, parts):
    assert top_level_parts(s) == parts


def test_brackets_names_relations():
    assert bracketed("[1, 2)") == ("[", "1, 2", ")") and bracketed("(1)(2)") is None
    assert bracketed("\\{1, 2\\}") == ("\\{", "1, 2", "\\}")
    assert split_name("x = 1 + 2 = 3") == ("x", "3") and split_name("2x + 4y = 3") == (None, "2x + 4y = 3")
    assert split_name("(p, q) = (3, 2)") == ("(p, q)", "(3, 2)") and split_name("x \\in [1, 2)") == ("x", "[1, 2)")
    assert split_name("x \\le 3") == (None, "x \\le 3")
    assert relation_interval("-2 \\le x < 7") == "[-2, 7)" and relation_interval("x > 3") == "(3, \\infty)"
    assert relation_interval("3 \\ge x") == "(-\\infty, 3]" and relation_interval("x > y") is None


def test_choices():
    assert truth_letters("C") == {"C"} and truth_letters("(C)") == {"C"} and truth_letters("A, C") == {"A", "C"}
    assert truth_letters("AC") is None and truth_letters("AC", "choices") == {"A", "C"} and truth_letters("x") is None
    for spelling in ("C", "(C)", "c", "C.", "C: 12 cm", "(C) 12 cm", "Option C", "Answer: (C)", "The answer is C"):
        assert answer_letters(spelling, several=False) == {"C"}, spelling
    for hedge in ("C or D", "C, D", "(C)(D)", "C/D", "C and D"):
        assert answer_letters(hedge, several=False) == {"C", "D"}, hedge
    assert answer_letters("12 cm", several=False) is None and answer_letters("AC", several=True) == {"A", "C"}
    assert option_texts({"options": ["1", "2"]}) == {"A": "1", "B": "2"}
    assert option_texts({"options": {"(A)": "x"}}) == {"A": "x"}
    assert option_texts({"question": "Which? A. 3 cm B. 4 cm\nC. 5 cm"}) == {"A": "3 cm", "B": "4 cm", "C": "5 cm"}
    assert option_texts({"question": "Triangle ABC. Find x."}) == {} and option_texts(None) == {}
    assert yes_no("\\text{Yes}.".replace("\\text{", "").replace("}", "")) == "yes" and yes_no("Yes or No") is None


def test_hazards_are_integer_towers_and_huge_integers_only():
    assert hazard("9^{9^{9}}") and hazard("2^{100000}") and hazard("99999!")
    assert not any(hazard(s) for s in ("x^{20}", "e^{x^2}", "2^{10}", "1000!", "10^{-3}"))
