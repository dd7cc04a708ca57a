"""Which part of a response is embedded, and the format check. No verl import.

Both are linear in the length of the response (plain substring searches, no backtracking regular
expression), so hostile text (100k ``</think>``, 70 KB of ``\\boxed{``) costs milliseconds.
"""

from __future__ import annotations

import re

__all__ = ["reasoning_span", "texts_to_embed", "has_valid_format"]

_OPEN, _CLOSE, _BOX = "<think>", "</think>", "\\boxed{"
_TAGS = re.compile(r"</?think>")


def reasoning_span(response: str) -> str:
    """The text MUPO embeds (authors' code): the ``<think>...</think>`` span if there is one, else
    the text before the first ``\\boxed``, else the whole response; stripped. A span that is empty
    after stripping falls through to the next rule; the later rules ignore the tags themselves."""
    start = response.find(_OPEN)
    end = response.find(_CLOSE, start + len(_OPEN)) if start >= 0 else -1
    if end >= 0 and response[start + len(_OPEN): end].strip():  # the first <think> and the first </think> after it
        return response[start + len(_OPEN): end].strip()
    clean = _TAGS.sub("", response)
    head = clean.split("\\boxed", 1)[0].strip()
    if head:
        return head
    return clean.strip()


def texts_to_embed(responses, mode: str = "reasoning") -> list[str]:
    """What MUPO embeds for each response: ``mode="reasoning"`` -> :func:`reasoning_span`,
    ``mode="response"`` -> the response unchanged (``algorithm.mupo.embed_text``)."""
    if mode == "reasoning":
        return [reasoning_span(r) for r in responses]
    if mode == "response":
        return list(responses)
    raise ValueError(f"algorithm.mupo.embed_text must be 'reasoning' or 'response', got {mode!r}")


def has_valid_format(response: str) -> bool:
    """``<think>...</think>`` first, then a ``\\boxed{...}`` answer: the authors' regex
    ``^\\s*<think>.*?</think>.*\\\\boxed\\{.*\\}`` (DOTALL), decided by substring searches: after
    leading whitespace the response opens with ``<think>``, a ``</think>`` follows, and after the
    first such ``</think>`` comes a ``\\boxed{`` with a ``}`` somewhere after it."""
    if not isinstance(response, str):
        return False
    text = response.lstrip()
    if not text.startswith(_OPEN):
        return False
    end = text.find(_CLOSE, len(_OPEN))
    if end < 0:
        return False
    box = text.find(_BOX, end + len(_CLOSE))
    return box >= 0 and text.find("}", box + len(_BOX)) >= 0
