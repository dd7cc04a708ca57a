"""The grader's settings: one home for each default, read from the environment and checked once.

============================================  ==========================================  ======================
environment variable                          meaning                                     default
============================================  ==========================================  ======================
``VERL_MUPO_GRADER_WORKERS``                  worker processes for symbolic checks; ``0``  ``min(4, usable cores)``
                                              checks in the calling process (a thread
                                              per check, abandoned at the deadline)
``VERL_MUPO_GRADER_TIMEOUT_S``                time budget of one symbolic check in worker ``2.0``
                                              CPU seconds, counted from when a worker starts
                                              it (queueing and a busy machine do not count;
                                              at most 10x as much wall time)
``VERL_MUPO_GRADER_MAX_ANSWER_CHARS``         a boxed answer longer than this is wrong    ``1000``
                                              without further checks (ViRL39K's ground
                                              truths are a few characters)
``VERL_MUPO_GRADER_RESPONSE_BUDGET_S``        wall time one response's grade may take,    ``1.0``
                                              waiting for a worker included; a symbolic
                                              check not done by then is refused (0)
============================================  ==========================================  ======================

Environment variables are how settings reach verl's reward workers (Ray actors started by verl):
set them on the driver (``export`` before ``python -m verl.trainer.main_ppo``) or through Ray's
``runtime_env``. In one process, :func:`verl_mupo.grading.pool.configure` overrides them.
"""

from __future__ import annotations

import dataclasses
import math
import os

__all__ = ["GraderSettings", "GraderSettingsError", "default_workers", "from_env", "WORKER_START_TIMEOUT_S",
           "MAX_WALL_FACTOR"]

ENV_WORKERS = "VERL_MUPO_GRADER_WORKERS"
ENV_TIMEOUT_S = "VERL_MUPO_GRADER_TIMEOUT_S"
ENV_MAX_ANSWER_CHARS = "VERL_MUPO_GRADER_MAX_ANSWER_CHARS"
ENV_RESPONSE_BUDGET_S = "VERL_MUPO_GRADER_RESPONSE_BUDGET_S"

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MAX_ANSWER_CHARS = 1000
DEFAULT_RESPONSE_BUDGET_S = 1.0
#: how long a new worker may take to import math-verify and say it is ready (not a check's budget)
WORKER_START_TIMEOUT_S = 120.0
#: a check's budget is worker CPU time; in wall time it is abandoned after this many budgets at most
MAX_WALL_FACTOR = 10.0


class GraderSettingsError(ValueError):
    """A grader setting has a value the grader cannot use; the message names the variable to change."""


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the platform has one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """``min(4, usable cores)``: symbolic checks are a minority of the answers, a few workers keep up."""
    return min(4, usable_cores())


@dataclasses.dataclass(frozen=True)
class GraderSettings:
    """Validated grader settings (see the module's table).

    Args:
        workers: worker processes for symbolic checks, ``>= 0`` (``0``: in the calling process).
        timeout_s: one symbolic check's time budget in seconds, finite and ``> 0``.
        max_answer_chars: longest boxed answer that is graded, ``>= 1``.
        response_budget_s: wall seconds one response's symbolic checks may take in all (queueing for
            a worker included), finite and ``> 0``; what is not decided by then is wrong.
    """

    workers: int = dataclasses.field(default_factory=default_workers)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS
    response_budget_s: float = DEFAULT_RESPONSE_BUDGET_S

    def __post_init__(self):
        _check_int(self.workers, 0, ENV_WORKERS)
        _check_seconds(self.timeout_s, f"{ENV_TIMEOUT_S} (timeout_s)")
        _check_int(self.max_answer_chars, 1, ENV_MAX_ANSWER_CHARS)
        _check_seconds(self.response_budget_s, f"{ENV_RESPONSE_BUDGET_S} (response_budget_s)")


def _check_seconds(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise GraderSettingsError(f"{name} must be a finite number of seconds > 0, got {value!r}")


def _check_int(value, minimum: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GraderSettingsError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _parse(name: str, kind):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return kind(raw.strip())
    except ValueError:
        raise GraderSettingsError(f"{name}={raw!r} is not a valid {kind.__name__}; unset it for the default "
                                  f"or see verl_mupo/grading/settings.py") from None


def from_env(**overrides) -> GraderSettings:
    """Settings from the environment variables, then ``overrides`` (keyword = field name, ``None`` = keep)."""
    values = {"workers": _parse(ENV_WORKERS, int), "timeout_s": _parse(ENV_TIMEOUT_S, float),
              "max_answer_chars": _parse(ENV_MAX_ANSWER_CHARS, int),
              "response_budget_s": _parse(ENV_RESPONSE_BUDGET_S, float)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GraderSettings(**{k: v for k, v in values.items() if v is not None})
