"""The embedded text and the format check."""

from verl_mupo import has_valid_format, reasoning_span


def test_reasoning_span_rules():
    assert reasoning_span("<think> count the dots </think> so \\boxed{3}") == "count the dots"
    assert reasoning_span("first add, then \\boxed{3}") == "first add, then"
    assert reasoning_span("just 3") == "just 3"
    assert reasoning_span("<think> </think>\\boxed{3}") == "\\boxed{3}"


def test_format_check():
    assert has_valid_format("<think>a</think> the answer is \\boxed{4}")
    assert not has_valid_format("\\boxed{4} <think>a</think>")
    assert not has_valid_format("<think>a</think> 4")
