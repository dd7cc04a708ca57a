"""The answer of a response: the content of its last ``\\boxed{...}``, found in time linear in the length."""

from __future__ import annotations

import re

from verl_mupo.grading.visible import drop_comments

__all__ = ["last_boxed"]

# one pass over the text: a box opening, an escaped brace (set braces, not a group), or a brace
_TOKENS = re.compile(r"\\(?:boxed|fbox)\s*\{|\\[{}]|[{}]")
# a box without braces boxes one token, as LaTeX reads it: \boxed 3, \boxed3, \boxed \pi (\boxed 34 shows 3 boxed)
_BARE_BOX = re.compile(r"\\(?:boxed|fbox)(?:\s+|(?=[^\sa-zA-Z{]))(\\[a-zA-Z]+|[^\s{}\\])")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) whose braces close, stripped; ``None`` if none.
    TeX comments in it are dropped (:func:`~verl_mupo.grading.visible.drop_comments`: ``3 % 4`` then a
    line break is ``3``). When the last box has no braces (``\\boxed 3``, ``\\boxed\\pi``) its one token, as LaTeX boxes it.

    Braces are matched as LaTeX groups: ``\\{`` and ``\\}`` (set braces) are text, not groups. A box
    whose braces never close is skipped in favour of an earlier closed one, as before. The text after
    the last ``\\boxed`` is read first (the usual case ends there); else one regular expression pass
    and one backward pass over all brace tokens: linear in ``len(text)`` also for hostile text (70 KB
    of ``\\boxed{`` takes milliseconds).

    Not verl's ``math_reward.last_boxed_only_string`` + ``remove_boxed``: those keep the braces of
    ``\\boxed {7}`` and assert on ``\\fbox{7}``.
    """
    if not isinstance(text, str):
        return None
    last = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if last < 0:
        return None
    bare = _BARE_BOX.match(text, last)
    if bare is not None:
        return bare.group(1)  # the last box has no braces: \boxed 3
    # the last box closes, or not, within the text after it: try that short tail first
    return _last_closed_box(text, last) or _last_closed_box(text, 0)


def _last_closed_box(text: str, start: int) -> str | None:
    """The last closed box of ``text[start:]``: brace tokens matched from the end (nearest first)."""
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKENS.finditer(text, start)]
    closers: list[int] = []  # positions of '}' not yet matched, nearest last
    for pos, end, tok in reversed(tokens):
        if tok == "}":
            closers.append(pos)
        elif tok.endswith("{") and not tok.startswith("\\{"):
            if not closers:
                continue  # an opening brace that never closes
            close = closers.pop()
            if tok != "{":  # \boxed{ or \fbox{: the last box whose braces close
                return drop_comments(text[end:close]).strip()
    return None
