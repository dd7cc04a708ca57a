"""What a reader of the rendered answer sees, and only that: the invisible-text rule.

A policy searches for whatever is paid; text that is in the string but not on the page must not
decide a grade. In this order, before anything else reads the text:

1. **invisible format characters** are removed: every character of Unicode category ``Cf`` (zero-width
   space U+200B, U+200C, U+200D, word joiner U+2060, invisible times/separator U+2062/U+2063, byte-order
   mark U+FEFF, ...) and the soft hyphen U+00AD, so ``3<ZWSP>4`` reads ``34``, as it shows;
2. **hidden LaTeX** is dropped with its content: ``\\phantom{..}``, ``\\hphantom{..}``,
   ``\\vphantom{..}``, ``\\textcolor{white}{..}``, and ``\\color{white}`` up to the end of its group;
3. **TeX comments** (in an answer only, :func:`drop_comments`): from ``%`` to the end of its line when a
   line break follows (``3 % 4`` then a newline shows ``3``); ``\\%`` is a percent sign, and so is a
   ``%`` with no line break after it (models write ``50%``; without a newline nothing is hidden);
4. **visible decorations** read as their content (:func:`undecorate`): ``\\color{red}3`` and
   ``\\textcolor{red}{3}`` are ``3``; Unicode vulgar fractions are fractions (``½`` is ``\\frac{1}{2}``,
   ``2½`` is ``2\\frac{1}{2}``).

Every pass is linear in the length of the text (a hidden group is skipped in one scan, an unclosed
one hides the rest of the text, as LaTeX would fail to show it).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["visible", "drop_comments", "undecorate", "strip_format_chars"]

_WHITE = r"\{\s*(?:white|White|WHITE)\s*\}"
# a group whose content is hidden: the command up to and including its opening brace
_HIDDEN_GROUP = re.compile(r"\\[hv]?phantom\s*\{|\\textcolor\s*" + _WHITE + r"\s*\{")
_WHITE_SWITCH = re.compile(r"\\color\s*" + _WHITE)
_COLOR_SWITCH = re.compile(r"\\color\s*\{[^{}]*\}")
_TEXTCOLOR = re.compile(r"\\textcolor\s*\{[^{}]*\}\s*\{")
_COMMENT = re.compile(r"(?<!\\)%[^\n]*\n")


def _vulgar_fractions() -> dict[str, str]:
    out = {}
    for code in range(0x00BC, 0x2190):
        ch = chr(code)
        dec = unicodedata.decomposition(ch)
        if dec.startswith("<fraction>"):
            parts = [chr(int(h, 16)) for h in dec.split()[1:]]
            num, den = "".join(parts).split("\u2044") if "\u2044" in parts else ("", "")
            if num.isdigit() and den.isdigit():
                out[ch] = "\\frac{" + num + "}{" + den + "}"
    return out


_FRACTIONS = _vulgar_fractions()  # ½ ⅓ ⅔ ¼ ¾ ⅕ .. ⅞ ⅑ ⅒ ↉
_FRACTIONS_RE = re.compile("|".join(map(re.escape, _FRACTIONS)))


def strip_format_chars(text: str) -> str:
    """``text`` without Unicode ``Cf`` characters and soft hyphens (U+00AD is ``Cf`` too)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _group_end(s: str, i: int) -> int:
    """Index of the ``}`` closing the group whose content starts at ``i`` (``\\{``/``\\}`` are text), or
    ``len(s)`` when it never closes."""
    depth, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return n


def _drop_hidden(s: str) -> str:
    """Hidden groups and what follows ``\\color{white}`` in its group removed, in one scan."""
    if "phantom" not in s and "white" not in s.lower():
        return s
    out, pos = [], 0
    while True:
        a, b = _HIDDEN_GROUP.search(s, pos), _WHITE_SWITCH.search(s, pos)
        m = min((x for x in (a, b) if x is not None), key=lambda x: x.start(), default=None)
        if m is None:
            break
        out.append(s[pos: m.start()])
        end = _group_end(s, m.end())
        # a hidden group ends after its brace; a white switch hides up to (not including) its group's end
        pos = min(len(s), end + 1) if m is a else end
    out.append(s[pos:])
    return "".join(out)


def visible(text: str) -> str:
    """Steps 1-2 of the module docstring on a whole response or answer (linear in its length)."""
    return _drop_hidden(strip_format_chars(text))


def drop_comments(answer: str) -> str:
    """Step 3: TeX comments removed from an answer (``%`` to the end of its line, when a line break follows)."""
    return _COMMENT.sub(" ", answer) if "%" in answer else answer


def _unwrap_textcolor(s: str) -> str:
    """``\\textcolor{c}{x}`` -> `` x `` (an answer is at most a few thousand characters: quadratic at worst)."""
    pos = 0
    while (m := _TEXTCOLOR.search(s, pos)) is not None:
        end = _group_end(s, m.end())
        s = s[: m.start()] + " " + s[m.end(): end] + " " + s[end + 1:]
        pos = m.start()
    return s


def undecorate(answer: str) -> str:
    """Step 4: ``\\color{c}`` removed, ``\\textcolor{c}{x}`` read as ``x`` (white is hidden before this
    runs), vulgar fractions written as ``\\frac``."""
    if "\\color" in answer:
        answer = _COLOR_SWITCH.sub(" ", answer)
    if "\\textcolor" in answer:
        answer = _unwrap_textcolor(answer)
    if not answer.isascii():
        answer = _FRACTIONS_RE.sub(lambda m: _FRACTIONS[m.group()], answer)
    return answer
