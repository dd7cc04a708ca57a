"""The embedded text and the format check: rules, the authors' regular expressions, linear time."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_mupo import has_valid_format, reasoning_span
from verl_mupo.text import texts_to_embed


def test_reasoning_span_rules():
    assert reasoning_span("<think> count the dots </think> so \\boxed{3}") == "count the dots"
    assert reasoning_span("first add, then \\boxed{3}") == "first add, then"
    assert reasoning_span("just 3") == "just 3"
    assert reasoning_span("<think> </think>\\boxed{3}") == "\\boxed{3}"


def test_format_check():
    assert has_valid_format("<think>a</think> the answer is \\boxed{4}")
    assert not has_valid_format("\\boxed{4} <think>a</think>")
    assert not has_valid_format("<think>a</think> 4")


# ---- linear time on hostile text, same answers as the authors' regular expressions -------------

AUTHORS_FORMAT = re.compile(r"^\s*<think>.*?</think>.*\\boxed\{.*\}", re.DOTALL)  # the authors' format regex
AUTHORS_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
PIECES = st.sampled_from(["<think>", "</think>", "\\boxed{", "}", "{", " ", "\n", "a", "\\boxed", "<think", "b}"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_format_check_equals_the_authors_regex(text):
    assert has_valid_format(text) == bool(AUTHORS_FORMAT.match(text))


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_reasoning_span_takes_the_authors_think_span(text):
    m = AUTHORS_THINK.search(text)
    if m and m.group(1).strip():
        assert reasoning_span(text) == m.group(1).strip()
    else:
        assert "<think>" not in reasoning_span(text) and "</think>" not in reasoning_span(text)


@pytest.mark.parametrize("text", ["</think>" * 100_000, "<think>" * 100_000, "<think>" + "</think>" * 100_000,
                                  "<think>" + "\\boxed{" * 10_000, " <think>x</think>" + "\\boxed{" * 20_000])
def test_hostile_text_is_linear(text):
    # a hang guard (the old backtracking regex ran for over a minute on 100k </think>)
    t0 = time.monotonic()
    has_valid_format(text)
    texts_to_embed([text])
    assert time.monotonic() - t0 < 10
