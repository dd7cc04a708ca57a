"""How an answer is built: several answers in one (lists, sets, hedges), a bracketed tuple or interval,
``name = value``. Brackets are matched by depth only, so ``[1, 2)`` is one group."""

from __future__ import annotations

import re

__all__ = ["is_name", "has_relation", "bracket_depths", "top_level_parts", "bracketed", "split_name", "union_parts",
           "strip_point_name", "relation_interval", "relation_union", "named_tuples"]

_OPEN = re.compile(r"\\\{|\\langle(?![a-zA-Z])|[(\[{]")
_CLOSE = re.compile(r"\\\}|\\rangle(?![a-zA-Z])|[)\]}]")
_BRACKET = re.compile(r"\\\{|\\\}|\\langle(?![a-zA-Z])|\\rangle(?![a-zA-Z])|[(\[{)\]}]")
_LAST_CLOSE = re.compile(r"(?:\\\}|\\rangle|[)\]}])$")
_SEPARATOR = re.compile(r",|;|\s+(?:and/or|or|and)\s+|\\lor(?![a-zA-Z])|\\vee(?![a-zA-Z])", re.IGNORECASE)
_PM = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])")
# one name: x, AB, m\angle ABC, x_1, x_{1,2}, f(x). Every part is unambiguous (the ``m`` of a measure only
# before a command, a comma only inside a braced subscript), so matching is linear in the length
_ONE_NAME = re.compile(
    r"(?:m\s*(?=\\))?(?:\\(?:angle|measuredangle|triangle|overline|overarc|widehat|arc|vec|hat)(?![a-zA-Z])\s*)?"
    r"(?:\{\s*(?:[A-Za-z]{1,12}|\\[a-zA-Z]+)\s*\}|[A-Za-z]{1,12}|\\[a-zA-Z]+)'*"
    r"(?:_(?:\{[A-Za-z0-9,]+\}|[A-Za-z0-9]+))?(?:\([A-Za-z]\))?")
_MAX_NAME_CHARS = 120  # a longer left side is not a name (and is never matched against the pattern)
_RELATION = re.compile(r"\\(?:le|ge|ne|leq|geq|neq|approx|in|notin|subset|subseteq|neg|lnot|not|sim|simeq|cong|to|"
                       r"propto|equiv)(?![a-zA-Z])|[<>]")
_IN = re.compile(r"\\in(?![a-zA-Z])")
_APPROX = re.compile(r"\\approx(?![a-zA-Z])")
_RATIO_NAME = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}|\|([^|]*)\|")
_ORDER = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|<|>")


def is_name(s: str) -> bool:
    """Whether ``s`` names a quantity: ``x``, ``AB``, ``m\\angle ABC``, ``x_1``, ``f(x)``, or a tuple of such
    names ``(p, q)``, a ratio of names (``A:B``, ``\\frac{NO}{BO}``) or ``|AB|``. Linear in the length (a
    tuple is split at its commas, each part matched alone); anything over 120 characters is not a name."""
    s = s.strip()
    if not s or len(s) > _MAX_NAME_CHARS:
        return False
    if _ONE_NAME.fullmatch(s):
        return True
    m = _RATIO_NAME.fullmatch(s)  # \frac{NO}{BO}, |AB|
    if m:
        return all(_ONE_NAME.fullmatch(x.strip()) for x in m.groups() if x is not None)
    if ":" in s:  # a ratio of names, S_{ABC}:S
        return all(is_name(x) and ":" not in x for x in s.split(":"))
    if not (s.startswith("(") and s.endswith(")")):
        return False
    b = bracketed(s)
    parts = top_level_parts(b[1]) if b is not None and b[0] == "(" and "," in b[1] else []
    return len(parts) >= 2 and all(_ONE_NAME.fullmatch(p) for p in parts)


def has_relation(s: str) -> bool:
    """Whether ``s`` states a relation at its top level (``\\ge 5``, ``x > 3``, ``\\ne 5``, ``8 \\approx 9``,
    ``\\neg 5``) rather than a value."""
    depth = bracket_depths(s)
    return any(depth[m.start()] == 0 for m in _RELATION.finditer(s))


def bracket_depths(s: str) -> list[int]:
    """Bracket depth before each character (any opener matches any closer)."""
    depth, out, pos = 0, [0] * (len(s) + 1), 0
    for m in _BRACKET.finditer(s):
        for k in range(pos, m.start()):
            out[k] = depth
        tok = m.group()
        if _OPEN.fullmatch(tok):
            for k in range(m.start(), m.end()):
                out[k] = depth
            depth += 1
        else:
            depth -= 1
            for k in range(m.start(), m.end()):
                out[k] = depth
        pos = m.end()
    for k in range(pos, len(s) + 1):
        out[k] = depth
    return out


def _is_thousands_comma(s: str, i: int) -> bool:
    return (s[i] == "," and i > 0 and s[i - 1].isdigit() and s[i + 1: i + 4].isdigit() and len(s[i + 1: i + 4]) == 3
            and (i + 4 == len(s) or not s[i + 4].isdigit()))


def top_level_parts(s: str) -> list[str]:
    """``s`` split at its top-level separators (``,`` ``;`` ``or`` ``and`` ``\\lor``), a ``\\pm`` part
    expanded into its two values; thousands separators (``1,000``) are not separators.

    ``top_level_parts("8 or 9") == ["8", "9"]``, ``top_level_parts("(1, 2)") == ["(1, 2)"]``,
    ``top_level_parts("\\pm 2") == ["+ 2", "- 2"]``."""
    depth = bracket_depths(s)
    parts, start = [], 0
    for m in _SEPARATOR.finditer(s):
        if depth[m.start()] != 0 or _is_thousands_comma(s, m.start()):
            continue
        parts.append(s[start: m.start()])
        start = m.end()
    parts.append(s[start:])
    out = []
    for p in (p.strip() for p in parts if p.strip()):  # "19, 46, and 82": no empty part between ", and"
        d = bracket_depths(p)
        pms = [m for m in _PM.finditer(p) if d[m.start()] == 0]
        if len(pms) == 1:
            m = pms[0]
            out += [(p[: m.start()] + "+" + p[m.end():]).strip(), (p[: m.start()] + "-" + p[m.end():]).strip()]
        else:
            out.append(p)
    return out


def bracketed(s: str) -> tuple[str, str, str] | None:
    """``(opener, inside, closer)`` when one bracket group spans all of ``s`` (``[1, 2)``, ``\\{1, 2\\}``)."""
    m = _OPEN.match(s)
    if m is None:
        return None
    last = _LAST_CLOSE.search(s)
    if last is None or last.start() < m.end():
        return None
    depth = bracket_depths(s)
    if any(depth[k] == 0 for k in range(m.end(), last.start())):
        return None  # the first group closes before the end: (1)(2)
    return m.group(), s[m.end(): last.start()], last.group()


def union_parts(s: str) -> list[str]:
    """``s`` split at its top-level ``\\cup`` (unions of intervals)."""
    depth = bracket_depths(s)
    parts, start = [], 0
    for m in re.finditer(r"\\cup(?![a-zA-Z])", s):
        if depth[m.start()] == 0:
            parts.append(s[start: m.start()].strip())
            start = m.end()
    return parts + [s[start:].strip()]


def split_name(s: str) -> tuple[str | None, str]:
    """``("x", "3")`` for ``x = 3`` (the last of ``x = 1 + 2 = 3``), ``("x", "[1, 2)")`` for
    ``x \\in [1, 2)``; ``(None, s)`` when ``s`` is not
    ``name = value``: no top-level ``=``, a relation (``x \\le 3``), or a left side that is not a name
    (``2x + 4y = 3`` is an equation, kept whole)."""
    m = _IN.search(s)
    if m and is_name(s[: m.start()]) and s[m.end():].strip():
        return s[: m.start()].strip(), s[m.end():].strip()  # x \in [1, 2)
    m = _APPROX.search(s)
    if m and "=" not in s and is_name(s[: m.start()]) and s[m.end():].strip() and not _RELATION.search(s[m.end():]):
        return s[: m.start()].strip(), s[m.end():].strip()  # x \approx 11
    if "=" not in s or _RELATION.search(s):
        return None, s
    depth = bracket_depths(s)
    eqs = [i for i, ch in enumerate(s) if ch == "=" and depth[i] == 0]
    if not eqs:
        return None, s
    name, value = s[: eqs[0]].strip(), s[eqs[-1] + 1:].strip()
    if not value or not is_name(name):
        return None, s
    return name, value


def strip_point_name(s: str) -> str:
    """``A(1, 2)`` -> ``(1, 2)``: a capital point name before coordinates (not ``f(x)``)."""
    m = re.match(r"[A-Z][A-Za-z]?'*(?:_\{?\w+\}?)?\s*(?=\()", s)
    if m and bracketed(s[m.end():]) is not None and "," in s:
        return s[m.end():]
    return s


def relation_interval(s: str) -> str | None:
    """The interval a one-variable order relation describes: ``-2 \\le x < 7`` -> ``[-2, 7)``,
    ``x > 3`` -> ``(3, \\infty)``, ``3 \\ge x`` -> ``(-\\infty, 3]``; ``None`` for anything else."""
    depth = bracket_depths(s)
    ops = [m for m in _ORDER.finditer(s) if depth[m.start()] == 0]
    if not 1 <= len(ops) <= 2:
        return None
    pieces = [s[a.end() if a else 0: b.start() if b else len(s)].strip()
              for a, b in zip([None] + ops, ops + [None])]
    kinds = [m.group() for m in ops]
    less = [k in ("<", "\\le") for k in kinds]
    if any(not p for p in pieces) or len(set(less)) != 1:
        return None
    if not less[0]:  # a > x > b is b < x < a
        pieces, kinds = pieces[::-1], [{">": "<", "\\ge": "\\le"}[k] for k in kinds[::-1]]
    closed = [k == "\\le" for k in kinds]
    names = [is_name(p) and not re.fullmatch(r"[-+\d.\s]*", p) for p in pieces]
    if any(names) and _ABS.fullmatch(pieces[names.index(True)]):
        return _abs_interval(pieces, names, closed)
    if len(pieces) == 3 and names == [False, True, False]:
        return f"{'[' if closed[0] else '('}{pieces[0]}, {pieces[2]}{']' if closed[1] else ')'}"
    if len(pieces) == 2 and names == [True, False]:
        return f"(-\\infty, {pieces[1]}{']' if closed[0] else ')'}"
    if len(pieces) == 2 and names == [False, True]:
        return f"{'[' if closed[0] else '('}{pieces[0]}, \\infty)"
    return None


_ABS = re.compile(r"\|\s*[A-Za-z](?:_\{?\w+\}?)?\s*\|")
_OR = re.compile(r"\s+or\s+|\\lor(?![a-zA-Z])|\\vee(?![a-zA-Z])|\\cup(?![a-zA-Z])", re.IGNORECASE)


def _neg(bound: str) -> str:
    """``-bound`` as text: ``2`` -> ``-2``, ``-2`` -> ``2``, ``\\frac{3}{2}`` -> ``-\\frac{3}{2}``, ``a+1`` -> ``-(a+1)``."""
    b = bound.strip()
    if b.startswith("-") and not re.search(r"[-+]", b[1:]):
        return b[1:].strip()
    return "-" + b if not re.search(r"[-+]", b) else f"-({b})"


def _abs_interval(pieces: list[str], names: list[bool], closed: list[bool]) -> str | None:
    """The set an order relation on ``|v|`` describes, as intervals of ``v``: ``a \\le |v| \\le b`` ->
    ``[-b, -a] \\cup [a, b]``, ``|v| < b`` -> ``(-b, b)``, ``|v| \\ge a`` -> ``(-\\infty, -a] \\cup [a, \\infty)``
    (bounds assumed nonnegative, as a range of an absolute value has)."""
    lo, hi = ("[", "]")
    if len(pieces) == 3 and names == [False, True, False]:  # a < |v| < b
        a, b = pieces[0], pieces[2]
        return (f"{lo if closed[1] else '('}{_neg(b)}, {_neg(a)}{hi if closed[0] else ')'} \\cup "
                f"{lo if closed[0] else '('}{a}, {b}{hi if closed[1] else ')'}")
    if len(pieces) == 2 and names == [True, False]:  # |v| < b
        b = pieces[1]
        return f"{lo if closed[0] else '('}{_neg(b)}, {b}{hi if closed[0] else ')'}"
    if len(pieces) == 2 and names == [False, True]:  # a < |v|
        a = pieces[0]
        return (f"(-\\infty, {_neg(a)}{hi if closed[0] else ')'} \\cup "
                f"{lo if closed[0] else '('}{a}, \\infty)")
    return None


def relation_union(s: str) -> str | None:
    """Relations in one variable joined by "or" (``\\lor``, ``\\vee``, ``\\cup``) as the union of their
    intervals: ``x < -1 or x > 3`` -> ``(-\\infty, -1) \\cup (3, \\infty)``; ``None`` unless every part is
    such a relation (and there are two or more)."""
    depth = bracket_depths(s)
    cuts = [m for m in _OR.finditer(s) if depth[m.start()] == 0]
    if not cuts:
        return None
    parts = [s[a.end() if a else 0: b.start() if b else len(s)] for a, b in zip([None] + cuts, cuts + [None])]
    intervals = [relation_interval(p.strip()) for p in parts]
    if any(i is None for i in intervals):
        return None
    return " \\cup ".join(intervals)


_NAMED = re.compile(r"\s*([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*(.+?)\s*")


def named_tuples(s: str) -> str | None:
    """Solutions written as named values, one group per solution: ``p=5,q=2;p=7,q=2`` ->
    ``(5, 2), (7, 2)`` (the names' order in each group is the tuple's order, every group names the same
    variables in the same order); ``None`` for anything else, or a single ``name = value``."""
    if "=" not in s:
        return None
    depth = bracket_depths(s)
    groups, start = [], 0
    for m in re.finditer(r";|\s+or\s+", s):
        if depth[m.start()] == 0:
            groups.append(s[start: m.start()])
            start = m.end()
    groups.append(s[start:])
    names, tuples = None, []
    for g in groups:
        d = bracket_depths(g)
        items = [g[a: b] for a, b in zip([0] + [i + 1 for i, ch in enumerate(g) if ch == "," and d[i] == 0],
                                         [i for i, ch in enumerate(g) if ch == "," and d[i] == 0] + [len(g)])]
        pairs = [_NAMED.fullmatch(x) for x in items]
        if len(pairs) < 2 or any(p is None or "=" in p.group(2) for p in pairs):
            return None
        these = [p.group(1) for p in pairs]
        if names is not None and these != names:
            return None
        names = these
        tuples.append("(" + ", ".join(p.group(2) for p in pairs) + ")")
    return ", ".join(tuples)
