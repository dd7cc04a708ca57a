"""math-verify's equivalence of two answers, and the worker process that runs it.

:func:`symbolic_equal` is the last stage of the grader, for what the cheap rules cannot decide
(expressions in variables, equations, intervals with ``\\infty``). math-verify's own time limits use
signals, which work only in a main thread, so they are off here and the caller bounds the time
(:mod:`verl_mupo.grading.pool` runs this in worker processes).

This file is also the worker: ``python symbolic.py`` reads one JSON object per line on standard input,
``{"pred": ..., "gt": ...}``, and writes ``{"equal": true|false}`` per line on standard output, after
a first line ``{"ready": true}``. It imports nothing from ``verl_mupo``, so a worker starts without
torch and never re-imports the caller's ``__main__`` (which fails for a script read from standard
input under the spawn start method).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading

__all__ = ["symbolic_equal", "serve", "math_verify_available", "hazard"]


class _NoTimeoutNotice(logging.Filter):
    """Drops math-verify's notice that its signal timeouts are off: the caller bounds the time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


@functools.lru_cache(maxsize=1)
def _configs():
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_NoTimeoutNotice())
    # units=False: the grader strips its own closed list of units first; math-verify's list removes
    # single letters (c, h, m, s, t, ...) and words (apple), which would make "2c" equal "2"
    latex = LatexExtractionConfig(
        boxed_match_priority=0,
        normalization_config=NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True,
                                                 boxed="all", equations=False))
    return (latex, ExprExtractionConfig())


@functools.lru_cache(maxsize=4096)
def _parsed(answer: str) -> tuple:
    from math_verify import parse

    return tuple(parse("$" + answer + "$", _configs(), parsing_timeout=None))


def symbolic_equal(pred: str, gt: str) -> bool:
    """Whether math-verify finds ``pred`` equivalent to ``gt`` (both bare answers, no ``$``); ``False``
    when either does not parse. No time limit: call it through the pool."""
    try:
        from math_verify import verify

        gold, target = _parsed(gt), _parsed(pred)
        if not gold or not target:
            return False
        return bool(verify(list(gold), list(target), timeout_seconds=None))
    except Exception:  # noqa: BLE001 - an answer math-verify cannot handle is not equivalent
        return False


# integers sympy cannot evaluate in time: a tower of integer powers (9^{9^{9}} has 370 million
# digits), an integer raised to a five-digit exponent, the factorial of a five-digit number
_HAZARD = re.compile(r"\d\s*\^\s*\{\s*\d+\s*\^|\d\s*\^\s*\d+\s*\^|\d\s*\^\s*\{?\s*\d{5,}|\d{5,}\s*!")


def hazard(answer: str) -> bool:
    """Whether ``answer`` is a known way to make sympy run for minutes (then it is not checked: no
    ViRL39K answer is a power tower of integers); the time budget covers the unknown ways."""
    return bool(_HAZARD.search(answer))


def math_verify_available() -> bool:
    """Whether math-verify can be imported here (a core dependency: ``pip install verl-mupo`` brings it)."""
    import importlib.util

    return importlib.util.find_spec("math_verify") is not None


def _exit_with_parent() -> None:
    parent = os.getppid()

    def watch():
        while True:
            threading.Event().wait(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve(inp=None, out=None) -> None:
    """The worker loop (see the module docstring); returns at end of input."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which ends the workers
    inp = inp or sys.stdin.buffer
    out = out or sys.stdout.buffer
    _exit_with_parent()
    symbolic_equal("x + 1", "1 + x")  # import sympy and math-verify before saying ready
    symbolic_equal("2\\sin x \\cos x", "\\sin 2x")  # and their trigonometry (its first use costs ~1 s)
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in inp:
        try:
            req = json.loads(line)
            reply = {"equal": symbolic_equal(str(req["pred"]), str(req["gt"]))}
        except (ValueError, KeyError, TypeError) as e:
            reply = {"error": f"bad request: {e!r}"[:200]}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve()
