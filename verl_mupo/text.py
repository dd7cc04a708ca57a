"""Which part of a response is embedded, and the format check. No verl import."""

from __future__ import annotations

import re

__all__ = ["reasoning_span", "texts_to_embed", "has_valid_format"]

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_TAGS = re.compile(r"</?think>")
_FORMAT = re.compile(r"^\s*<think>.*?</think>.*\\boxed\{.*\}", re.DOTALL)


def reasoning_span(response: str) -> str:
    """The text MUPO embeds (authors' code): the ``<think>...</think>`` span if there is one, else
    the text before the first ``\\boxed``, else the whole response; stripped. A span that is empty
    after stripping falls through to the next rule; the later rules ignore the tags themselves."""
    m = _THINK.search(response)
    if m and m.group(1).strip():
        return m.group(1).strip()
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
    """``<think>...</think>`` first, then a ``\\boxed{...}`` answer (the authors' regex, anchored)."""
    return bool(_FORMAT.match(response))
