"""An answer's presentation removed, its meaning kept: LaTeX spacing and sizing, text macros, Unicode
symbols, math delimiters. Every pattern here is linear (no nested quantifiers)."""

from __future__ import annotations

import re

from verl_mupo.grading.visible import drop_comments, undecorate, visible

__all__ = ["clean", "compact", "is_words", "words"]

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "\\times ", "\u22c5": "\\cdot ", "\u00b7": "\\cdot ",
    "\u00f7": "\\div ", "\u03c0": "\\pi ", "\u221a": "\\sqrt", "\u221e": "\\infty ", "\u2264": "\\le ",
    "\u2265": "\\ge ", "\u2260": "\\ne ", "\u222a": "\\cup ", "\u2229": "\\cap ", "\u00b0": "\u00b0",
    "\uff0c": ",", "\uff1a": ":", "\uff1b": ";", "\uff08": "(", "\uff09": ")", "\u3002": ".", "\u00a0": " ",
    "\u2032": "'", "\u00b2": "^2", "\u00b3": "^3", "\u2220": "\\angle ", "\u25b3": "\\triangle ",
    "\u2248": "\\approx ", "\u2a7e": "\\ge ", "\u2a7d": "\\le ", "\u2243": "\\simeq ", "\u2245": "\\cong ",
    "\u223c": "\\sim ", "\u2192": "\\to ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
# a command escaped twice (two backslashes, then left( or frac{, from text that went through JSON once
# more): exactly two backslashes right before one of these command names; a LaTeX line break (two
# backslashes) is followed by a blank, a digit or a third backslash, not by one of these names
_DOUBLE_ESCAPE = re.compile(r"(?<!\\)\\\\(?=(?:left|right|[dtc]?frac|sqrt|pi|cdot|times|infty|circ|le|leq|ge|geq|"
                            r"ne|neq|text|mathrm|mathbf|boxed)(?![a-zA-Z]))")
_TEXT_MACRO = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|textnormal|mathrm|mathbf|mathit|mathsf|mathnormal|mbox|operatorname|"
    r"boldsymbol|bm)\s*\{([^{}]*)\}")
_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lr]?|displaystyle|textstyle|scriptstyle)(?![a-zA-Z])\.?")
_NEG_SPACE = re.compile(r"\s*\\!\s*")  # \! is a negative thin space: 16,\!386 is 16,386
_SPACING = re.compile(r"\\[,;:> ]|\\q?quad(?![a-zA-Z])|~")
_FRAC = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_DEGREE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|\\circ(?![a-zA-Z])\s*$")
_SINGLE_SCRIPT = re.compile(r"([_^])\{\s*([A-Za-z0-9])\s*\}")
_LATEX_COMMA = re.compile(r"\{,\}")
_DELIMS = re.compile(r"^(?:\\\(|\\\[)(.*)(?:\\\)|\\\])$", re.DOTALL)
_SYNONYMS = re.compile(r"\\(?:geqslant|leqslant|geq|leq|neq|lt|gt|varnothing|dots|cdots|ldots)(?![a-zA-Z])|>=|<=|!=|"
                       r"(?<![\w})\]])\+\s*\\infty(?![a-zA-Z])")
_SYNONYM = {"\\geqslant": "\\ge", "\\leqslant": "\\le", "\\geq": "\\ge", "\\leq": "\\le", "\\neq": "\\ne",
            "\\lt": "<", "\\gt": ">", "\\varnothing": "\\emptyset", "\\dots": "\\ldots", "\\cdots": "\\ldots",
            "\\ldots": "\\ldots", ">=": "\\ge ", "<=": "\\le ", "!=": "\\ne "}
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'\- ]*")


def clean(answer: str) -> str:
    """``answer`` as a reader sees it (:mod:`verl_mupo.grading.visible`: invisible characters, phantoms,
    white text and TeX comments dropped; colours and vulgar fractions read as their content), without
    presentation: a command escaped twice (``\\\\frac``) read once,
    ``\\text{..}``-like macros unwrapped, ``\\left``/``\\right`` and
    sizing dropped, LaTeX spacing turned into spaces, ``\\dfrac`` -> ``\\frac``, ``^\\circ``/``\\degree``
    -> ``°``, ``\\%`` -> ``%``, dollar signs removed (math delimiters and currency alike), Unicode math
    symbols to LaTeX, ``x^{2}`` -> ``x^2``, ``14{,}916`` -> ``14,916``, one space between tokens, no
    trailing full stop. Case is kept (``\\Delta`` is not ``\\delta``)."""
    s = undecorate(drop_comments(visible(answer)))  # what a reader sees (verl_mupo.grading.visible)
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], s)
    s = _DOUBLE_ESCAPE.sub(r"\\", s)
    m = _DELIMS.match(s.strip())
    if m:
        s = m.group(1)
    for _ in range(3):  # nested macros, innermost first
        t = _TEXT_MACRO.sub(r" \1 ", s)
        if t == s:
            break
        s = t
    s = _SIZING.sub("", s)
    s = _NEG_SPACE.sub("", s)
    s = _SPACING.sub(" ", s)
    s = _FRAC.sub(r"\\frac", s)
    s = _DEGREE.sub("\u00b0", s)
    s = s.replace("\\%", "%").replace("\\$", "").replace("$", "")
    s = _SYNONYMS.sub(lambda m: _SYNONYM.get(m.group(), "\\infty"), s)  # +\infty is \infty
    s = _SINGLE_SCRIPT.sub(r"\1\2", s)
    s = _LATEX_COMMA.sub(",", s)
    s = _SPACES.sub(" ", s).strip()
    if s.endswith(".") and not s.endswith(".."):
        s = s[:-1].rstrip()
    return s


def compact(s: str) -> str:
    """``s`` without any whitespace: the form two answers are compared in for plain string equality."""
    return _SPACES.sub("", s)


def is_words(s: str) -> bool:
    """A text answer: letters, spaces, hyphens and apostrophes only, with a word of two letters or more."""
    return bool(_WORDS.fullmatch(s)) and any(len(w) >= 2 for w in re.split(r"[\s\-']+", s))


_ARTICLES = re.compile(r"^(?:the|a|an) ", re.IGNORECASE)


def words(s: str) -> str:
    """A text answer for comparison: lower case, single spaces, no leading article (``The Square`` -> ``square``)."""
    return _ARTICLES.sub("", _SPACES.sub(" ", s).strip().lower())
