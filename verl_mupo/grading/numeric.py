"""Numbers in answers: a constant expression evaluated to a float, and when two values are equal.

:func:`evaluate` reads the constant answers ViRL39K's geometry produces every day (``12``, ``-0.5``,
``1,000``, ``\\frac{3}{4}``, ``3/4``, ``2\\sqrt{3}``, ``\\frac{\\sqrt{3}}{2}``, ``12\\pi``, ``\\sqrt[3]{2}``,
``2^{10}``, ``1.5\\times 10^{3}``) so that they never need sympy. It is a small recursive-descent
parser that accepts the whole string or nothing: ``e``, ``i``, a function, a mixed number
(``2\\frac{1}{2}``: 2.5 or 1?) or anything else it does not know returns ``None`` and the answer goes
on to math-verify.

With values for its variables the same parser evaluates expressions, which gives two cheap tests
before math-verify: :func:`same_function` (``x + 1`` and ``1 + x``, ``2x`` and ``2``) and
:func:`same_equation` (``y = 2x + 4`` and ``2x - y + 4 = 0``), each at four fixed points.
"""

from __future__ import annotations

import math
import re

__all__ = ["evaluate", "variables", "written_step", "same_function", "same_equation", "values_equal", "REL_TOL"]

#: two values are equal when they differ by at most this fraction of the larger magnitude
REL_TOL = 1e-4
_ABS_TOL = 1e-12  # only for values that are zero up to rounding

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)"
    r"|(?P<cmd>\\(?:frac|sqrt|pi|cdot|times|div)(?![a-zA-Z]))"
    r"|(?P<var>(?:[A-DF-HJ-Za-df-hj-z]|\\(?:alpha|beta|gamma|delta|theta|varphi|phi|lambda|mu|rho|sigma|tau|omega)"
    r"(?![a-zA-Z]))(?:_(?:\{[A-Za-z0-9]+\}|[A-Za-z0-9]))?)"
    r"|(?P<op>[-+*/^(){}\[\]]))")
# values a variable takes in the identity test (irrational-looking, positive: roots stay real)
_SAMPLES = (0.7071, 1.3863, 2.2361, 0.4142, 1.7321, 3.1416, 0.5772, 2.7183)
_MAX_EXPONENT = 1000.0


# a number as written: 12, -0.375, 3,333, 1.26 \times 10^3
_WRITTEN = re.compile(r"[-+]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<decimals>\d+))?"
                      r"(?:\s*(?:\\times|\\cdot)\s*10\s*\^\s*\{?\s*(?P<exp>[-+]?\d+)\s*\}?)?")


def written_step(answer: str) -> float | None:
    """The place value of the last written digit when ``answer`` is a number as written (``12`` -> 1,
    ``0.375`` -> 0.001, ``3,333`` -> 1, ``1.26 \\times 10^3`` -> 10), ``None`` for anything else
    (``\\frac{1}{3}``, ``2\\sqrt{3}``): the precision a number claims."""
    m = _WRITTEN.fullmatch(answer.strip())
    if m is None:
        return None
    try:
        return 10.0 ** (int(m.group("exp") or 0) - len(m.group("decimals") or ""))
    except OverflowError:
        return math.inf  # 3 \\times 10^{99999}: a number, too large to read


class _Reject(Exception):
    pass


def _tokens(s: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None:
            raise _Reject
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|\\cdot|\\times|\\div|implicit) unary)*;
    unary := ('-'|'+') unary | power; power := atom ('^' unary_atom)?; atom := number | \\pi | \\frac g g |
    \\sqrt ['[' expr ']'] g | '(' expr ')' | '{' expr '}'."""

    def __init__(self, tokens, env=None):
        self.toks, self.i, self.env = tokens, 0, env or {}

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise _Reject
        self.i += 1
        return tok

    def parse(self) -> float:
        v = self.expr()
        if self.i != len(self.toks):
            raise _Reject
        return v

    def expr(self) -> float:
        v = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            w = self.term()
            v = v + w if op == "+" else v - w
        return v

    def term(self) -> float:
        v = self.unary()
        while True:
            kind, tok = self.peek()
            if tok in ("*", "/", "\\cdot", "\\times", "\\div"):
                self.take()
                w = self.unary()
                if tok in ("/", "\\div"):
                    if w == 0:
                        raise _Reject
                    v = v / w
                else:
                    v = v * w
            elif kind == "var" or kind == "cmd" and tok in ("\\frac", "\\sqrt", "\\pi") or tok in ("(", "{"):
                prev_kind, prev = self.toks[self.i - 1]
                if prev_kind == "num" and tok == "\\frac" and self._integer_frac_follows():
                    raise _Reject  # 2\frac{1}{2}: a mixed number or a product, math-verify decides
                v = v * self.power()
            else:
                return v

    def _integer_frac_follows(self) -> bool:
        t = [x[1] for x in self.toks[self.i: self.i + 7]]
        return (len(t) == 7 and t[1] == "{" and t[3] == "}" and t[4] == "{" and t[6] == "}"
                and self.toks[self.i + 2][0] == "num" and self.toks[self.i + 5][0] == "num")

    def unary(self) -> float:
        if self.peek()[1] in ("-", "+"):
            sign = -1.0 if self.take()[1] == "-" else 1.0
            return sign * self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek()[1] == "^":
            self.take()
            sign = 1.0
            if self.peek()[1] in ("-", "+"):
                sign = -1.0 if self.take()[1] == "-" else 1.0
            kind, tok = self.peek()
            if kind == "num" and len(tok) > 1:
                raise _Reject  # 2^10 is 2^1 0 in LaTeX; 2^{10} is meant
            exp = sign * self.atom()
            if abs(exp) > _MAX_EXPONENT or (base < 0 and exp != int(exp)) or (base == 0 and exp < 0):
                raise _Reject
            try:
                return math.pow(base, exp)
            except (OverflowError, ValueError):
                raise _Reject from None
        return base

    def atom(self) -> float:
        kind, tok = self.take()
        if kind == "num":
            return float(tok.replace(",", ""))
        if tok == "\\pi":
            return math.pi
        if kind == "var":
            if tok not in self.env:
                raise _Reject
            return self.env[tok]
        if tok == "\\frac":
            num, den = self.group_or_digit(), self.group_or_digit()
            if den == 0:
                raise _Reject
            return num / den
        if tok == "\\sqrt":
            index = 2.0
            if self.peek()[1] == "[":
                self.take()
                index = self.expr()
                self.take("]")
                if index < 2 or index != int(index):
                    raise _Reject
            radicand = self.group_or_digit()
            if radicand < 0:
                raise _Reject
            return radicand ** (1.0 / index)
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v
        raise _Reject

    def group_or_digit(self) -> float:
        """``{expr}``, or one digit as in ``\\frac12`` and ``\\sqrt3``, or ``\\pi``."""
        kind, tok = self.peek()
        if tok == "{":
            self.take()
            v = self.expr()
            self.take("}")
            return v
        if kind == "num":
            self.take()
            if len(tok) > 1:  # \frac12: the digits are split one per argument
                if not tok.isdigit() or len(tok) > 2:
                    raise _Reject
                self.toks.insert(self.i, ("num", tok[1]))
                return float(tok[0])
            return float(tok)
        if tok == "\\pi":
            self.take()
            return math.pi
        raise _Reject


def evaluate(answer: str, env: dict[str, float] | None = None) -> float | None:
    """The value of a constant answer (see the module docstring), ``None`` if it is not one; with
    ``env``, variables (letters but ``e`` and ``i``, Greek letters, with a subscript) take its values.

    ``evaluate("2\\sqrt{3}") == 2 * 3 ** 0.5``, ``evaluate("1,000") == 1000.0``, ``evaluate("2x") is None``,
    ``evaluate("2x", {"x": 3.0}) == 6.0``.
    """
    if not answer or len(answer) > 200:
        return None
    try:
        v = _Parser(_tokens(answer), env).parse()
    except (_Reject, RecursionError, ZeroDivisionError, OverflowError, ValueError, TypeError):
        return None
    return v if isinstance(v, float) and math.isfinite(v) else None


def variables(answer: str) -> frozenset[str] | None:
    """The variables of an answer the evaluator reads, ``None`` if it cannot read it."""
    if not answer or len(answer) > 200:
        return None
    try:
        return frozenset(tok for kind, tok in _tokens(answer) if kind == "var")
    except _Reject:
        return None


def _points(names) -> list[dict[str, float]]:
    names = sorted(names)
    return [{v: _SAMPLES[(k + 3 * j) % len(_SAMPLES)] for j, v in enumerate(names)} for k in range(4)]


def same_function(a: str, b: str) -> bool | None:
    """Whether two expressions in variables are the same function, by evaluating both at four points
    (an identity test: two different polynomials or rational functions agree at four generic points
    with probability zero). ``None`` when either cannot be evaluated there (math-verify decides).
    ``same_function("x+1", "1+x")``; ``not same_function("2x", "2")``."""
    va, vb = variables(a), variables(b)
    if va is None or vb is None or not (va | vb):
        return None
    diff = False
    for env in _points(va | vb):
        x, y = evaluate(a, env), evaluate(b, env)
        if x is None or y is None:
            return None
        if abs(x - y) > 1e-6 * max(abs(x), abs(y), 1e-9):
            diff = True
        elif abs(x - y) > 1e-9 * max(abs(x), abs(y), 1.0):
            return None  # close but not equal: leave it to math-verify
    return not diff


def same_equation(a: str, b: str) -> bool | None:
    """Whether two equations ``l = r`` have the same solutions as scaled forms of one polynomial
    equation: ``l1 - r1`` is a constant nonzero multiple of ``l2 - r2`` at four points
    (``2x - y + 4 = 0`` and ``y = 2x + 4``). ``None`` when not both are single equations the
    evaluator reads."""
    if a.count("=") != 1 or b.count("=") != 1 or re.search(r"[<>]|\\[lg]e|\\ne", a + b):
        return None
    (la, ra), (lb, rb) = a.split("="), b.split("=")
    names = [variables(x) for x in (la, ra, lb, rb)]
    if any(n is None for n in names) or not frozenset().union(*names):
        return None
    ratios = []
    for env in _points(frozenset().union(*names)):
        vals = [evaluate(x, env) for x in (la, ra, lb, rb)]
        if any(v is None for v in vals):
            return None
        fa, fb = vals[0] - vals[1], vals[2] - vals[3]
        if abs(fa) < 1e-12 and abs(fb) < 1e-12:
            continue
        if abs(fa) < 1e-12 or abs(fb) < 1e-12:
            return False
        ratios.append(fa / fb)
    if len(ratios) < 2:
        return None
    return all(abs(r - ratios[0]) <= 1e-9 * max(abs(r), abs(ratios[0])) for r in ratios)


def values_equal(a: float, b: float) -> bool:
    """``|a - b| <= 1e-4 * max(|a|, |b|)`` (relative; zero equals only values within 1e-12 of zero)."""
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), _ABS_TOL)
