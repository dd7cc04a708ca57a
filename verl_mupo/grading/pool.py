"""Symbolic checks in worker processes, each with its own time budget.

verl's reward loop calls the scorer from many threads at once, where signals (math-verify's own time
limits) do not work. So every symbolic check runs in a worker process:

- a small pool (``VERL_MUPO_GRADER_WORKERS``, default ``min(4, usable cores)``), workers started on
  first need; a check waits for a free worker, and that wait does not count against its budget;
- a check's budget (``VERL_MUPO_GRADER_TIMEOUT_S``, default 2 s) is CPU time of its worker, counted
  from when the worker receives it (at once: a worker runs one check at a time), so neither queueing
  nor a busy machine counts against it; a check is also abandoned after ``MAX_WALL_FACTOR`` (10)
  times the budget in wall time, and where CPU time cannot be read (no ``/proc``) the budget is
  wall time;
- a pair checked by one thread is not checked again by another at the same time (the second waits
  for the first's verdict), and verdicts are cached (a spent CPU budget too: it is spent anywhere);
- a check that runs out of time is abandoned alone: its worker is killed and replaced on next
  need; the other checks keep their workers and their results. The timed-out answer is graded as
  not equivalent (``None`` from :func:`symbolic_check`), and counted in :func:`stats`;
- a worker that dies in a check (out of memory, a crash) is replaced and the check retried once;
- workers are plain ``python`` processes started with :mod:`subprocess` (safe from any thread, and
  independent of the caller's ``__main__``, so ``python - < script.py`` works), they exit with their
  parent, and a process that forks gets a pool of its own.

When no worker can start (no usable ``sys.executable``, process limits), the checks run in the
calling process instead, each in a thread that is abandoned at the deadline (the caller gets its
answer in time; the abandoned thread finishes in the background). This is announced once with a
:class:`RuntimeWarning` and a log error, and counted in :func:`stats`; grades stay right.
``VERL_MUPO_GRADER_WORKERS=0`` chooses this mode from the start. Without math-verify installed a
symbolic check raises :class:`GraderUnavailable` (never a silent 0).
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import warnings

from verl_mupo.grading import settings as _settings
from verl_mupo.grading.symbolic import hazard, math_verify_available, symbolic_equal

__all__ = ["symbolic_check", "configure", "current_settings", "warm_up", "stats", "shutdown", "WorkerPool",
           "GraderUnavailable", "WorkerStartError"]

logger = logging.getLogger(__name__)

_WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "symbolic.py")
# run symbolic.py as __main__ without putting its folder (or the working directory) on sys.path
_BOOT = "import sys; del sys.path[0]; import runpy; runpy.run_path(sys.argv[1], run_name='__main__')"
_CACHE_SIZE = 65536


class GraderUnavailable(RuntimeError):
    """The symbolic stage cannot run at all (math-verify is missing)."""


class WorkerStartError(RuntimeError):
    """A worker process did not start or did not become ready in time."""


class _WorkerDied(Exception):
    pass


class _OutOfTime(Exception):
    """A check used its budget; ``args[0]`` is ``"cpu"`` (its CPU time, the same on any machine) or
    ``"wall"`` (the wall-time cap on a starved machine, or where CPU time cannot be read)."""


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class _Worker:
    """One worker process and its pipes; used by one thread at a time."""

    def __init__(self, python: str, start_timeout_s: float):
        try:
            self.proc = subprocess.Popen([python, "-c", _BOOT, _WORKER_SCRIPT], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, close_fds=True)
        except (OSError, ValueError) as e:
            raise WorkerStartError(f"could not start {python!r}: {e}") from e
        self._buf = b""
        try:
            ready = self._reply(time.monotonic() + start_timeout_s)
        except TimeoutError:
            self.kill()
            raise WorkerStartError(f"worker not ready within {start_timeout_s:.0f} s") from None
        except _WorkerDied:
            code = self.kill()
            raise WorkerStartError(f"worker exited at start (exit code {code}; its error is on stderr)") from None
        if ready != {"ready": True}:
            self.kill()
            raise WorkerStartError(f"worker said {ready!r} instead of ready")

    def _reply(self, deadline: float) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _WorkerDied
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            raise _WorkerDied from None

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used (Linux ``/proc``), ``None`` where it cannot be read."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return None

    def ask(self, pred: str, gt: str, timeout_s: float) -> bool:
        """The worker's verdict. Raises :class:`_OutOfTime` once the check has used ``timeout_s`` of
        the worker's CPU time (wall time where CPU time cannot be read), or ``timeout_s`` times
        :data:`~verl_mupo.grading.settings.MAX_WALL_FACTOR` of wall time, counted from sending it."""
        cpu0 = self.cpu_seconds()
        try:
            self.proc.stdin.write(json.dumps({"pred": pred, "gt": gt}).encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise _WorkerDied from None
        start = time.monotonic()
        deadline, hard = start + timeout_s, start + timeout_s * _settings.MAX_WALL_FACTOR
        while True:
            try:
                reply = self._reply(deadline)
                break
            except TimeoutError:
                now, cpu = time.monotonic(), self.cpu_seconds()
                used = None if cpu is None or cpu0 is None else cpu - cpu0
                if used is None or used >= timeout_s:
                    raise _OutOfTime("cpu" if used is not None else "wall") from None
                if now >= hard:
                    raise _OutOfTime("wall") from None
                # the machine is busy and the worker got less CPU than its budget: wait for the rest
                deadline = min(hard, now + (timeout_s - used) + 0.05)
        if "equal" not in reply:
            raise _WorkerDied
        return bool(reply["equal"])

    def kill(self) -> int | None:
        try:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            code = None
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        return code


class WorkerPool:
    """``size`` worker processes for symbolic checks, each check with its own ``timeout_s``.

    Args:
        size: most workers (and most checks running at once), ``>= 1``.
        timeout_s: one check's budget in seconds, counted from when its worker receives it.
        python: the interpreter to start workers with (default ``sys.executable``).
        start_timeout_s: how long a new worker may take to become ready (imports math-verify).
    """

    def __init__(self, size: int, timeout_s: float, python: str | None = None,
                 start_timeout_s: float = _settings.WORKER_START_TIMEOUT_S):
        if size < 1:
            raise ValueError(f"a WorkerPool needs size >= 1, got {size}")
        self.size, self.timeout_s, self.start_timeout_s = size, timeout_s, start_timeout_s
        self.python = python or sys.executable
        self.pid = os.getpid()
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.counts = collections.Counter()

    def check(self, pred: str, gt: str) -> tuple[bool | None, str]:
        """``(verdict, how)``: math-verify's verdict and ``"ok"``, or ``None`` and why there is none:
        ``"cpu"``/``"wall"`` (out of time, see :meth:`_Worker.ask`), ``"died"`` (the worker died
        twice on it). The worker of a check without a verdict is killed. Raises
        :class:`WorkerStartError` when no worker can be started."""
        with self._slots:  # waiting here is queueing: it does not count against the budget
            worker = self._take()
            for attempt in (1, 2):
                try:
                    verdict = worker.ask(pred, gt, self.timeout_s)
                except _OutOfTime as e:
                    worker.kill()
                    self._count(f"timeouts_{e.args[0]}")
                    return None, e.args[0]
                except _WorkerDied:
                    worker.kill()
                    self._count("worker_deaths")
                    if attempt == 2:
                        return None, "died"
                    worker = self._start()
                    continue
                self._count("checks")
                with self._lock:
                    self._idle.append(worker)
                return verdict, "ok"
        return None, "died"  # unreachable

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._start()

    def _start(self) -> _Worker:
        worker = _Worker(self.python, self.start_timeout_s)
        self._count("worker_starts")
        return worker

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def warm_up(self, n: int | None = None) -> None:
        """Start up to ``n`` (default: all) workers now, in parallel, instead of on first need."""
        n = self.size if n is None else min(n, self.size)
        started: list[_Worker] = []

        def start():
            try:
                w = self._start()
            except WorkerStartError:
                return
            with self._lock:
                started.append(w)

        with self._lock:
            missing = max(0, n - len(self._idle))
        threads = [threading.Thread(target=start) for _ in range(missing)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self._lock:
            self._idle.extend(started)

    def close(self) -> None:
        """End the idle workers (a busy worker ends when its parent exits)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


# ---- the process-wide pool ------------------------------------------------------------------------

_STATE_LOCK = threading.Lock()
_settings_now: _settings.GraderSettings | None = None
_pool: WorkerPool | None = None
_fallback_reason: str | None = None
_counts = collections.Counter()
_cache: collections.OrderedDict = collections.OrderedDict()
_running: dict = {}  # (pred, gt) -> [Event, verdict]: a check in progress that other threads wait for


def current_settings() -> _settings.GraderSettings:
    """The settings in force (read from the environment on first use, see :mod:`.settings`)."""
    global _settings_now
    with _STATE_LOCK:
        if _settings_now is None:
            _settings_now = _settings.from_env()
        return _settings_now


def configure(workers: int | None = None, timeout_s: float | None = None,
              max_answer_chars: int | None = None) -> _settings.GraderSettings:
    """Replace the settings (``None`` keeps the environment's value or the default), end the current
    workers and forget cached verdicts. Returns the settings now in force."""
    global _settings_now, _pool, _fallback_reason
    new = _settings.from_env(workers=workers, timeout_s=timeout_s, max_answer_chars=max_answer_chars)
    with _STATE_LOCK:
        old, _pool, _settings_now, _fallback_reason = _pool, None, new, None
        _cache.clear()
    if old is not None and old.pid == os.getpid():
        old.close()
    return new


def _get_pool(s: _settings.GraderSettings) -> WorkerPool | None:
    global _pool
    if s.workers == 0 or _fallback_reason is not None:
        return None
    with _STATE_LOCK:
        if _pool is None or _pool.pid != os.getpid():  # after a fork the parent's workers are not ours
            _pool = WorkerPool(s.workers, s.timeout_s)
        return _pool


def _fall_back(reason: str) -> None:
    global _fallback_reason
    with _STATE_LOCK:
        first = _fallback_reason is None
        _fallback_reason = reason
    if first:
        msg = (f"verl_mupo grader: symbolic-check workers cannot start ({reason}); checking in this process "
               f"instead, each check in a thread abandoned after its time budget. Grades stay right; CPU "
               f"time of abandoned checks is not reclaimed. Set VERL_MUPO_GRADER_WORKERS=0 to choose this "
               f"mode, or fix the cause (the worker runs {sys.executable!r}).")
        logger.error(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _in_thread(pred: str, gt: str, timeout_s: float) -> bool | None:
    box: list[bool] = []
    t = threading.Thread(target=lambda: box.append(symbolic_equal(pred, gt)), daemon=True,
                         name="verl-mupo-symbolic-check")
    t.start()
    t.join(timeout_s)
    return box[0] if box else None


def symbolic_check(pred: str, gt: str) -> bool | None:
    """math-verify's verdict on two cleaned answers within the time budget; ``None`` when the check
    ran out of time (then the answer counts as not equivalent). Verdicts are cached per pair. An
    answer that is a known sympy hazard (:func:`~verl_mupo.grading.symbolic.hazard`: a power tower, a
    four-digit exponent or factorial) is not equivalent without a check."""
    if hazard(pred) and not hazard(gt):
        with _STATE_LOCK:
            _counts["hazards"] += 1
        return False
    key = (pred, gt)
    with _STATE_LOCK:
        if key in _cache:
            _cache.move_to_end(key)
            _counts["cache_hits"] += 1
            return _cache[key]
        running = _running.get(key)
        if running is None:
            _running[key] = running = [threading.Event(), None]
            mine = True
        else:
            mine = False
    if not mine:  # the same pair is being checked by another thread: its verdict is ours
        running[0].wait()
        with _STATE_LOCK:
            _counts["joined_checks"] += 1
        return running[1]
    try:
        running[1] = _check(key, pred, gt)
    finally:
        with _STATE_LOCK:
            _running.pop(key, None)
        running[0].set()
    return running[1]


def _check(key, pred: str, gt: str) -> bool | None:
    if not math_verify_available():
        raise GraderUnavailable("the grader's symbolic stage needs math-verify: pip install 'verl-mupo[score]' "
                                "(or pip install math-verify)")
    s = current_settings()
    pool = _get_pool(s)
    verdict, how = None, "wall"
    if pool is not None:
        try:
            verdict, how = pool.check(pred, gt)
            mode = "worker"
        except WorkerStartError as e:
            _fall_back(str(e))
            pool = None
    if pool is None:
        verdict = _in_thread(pred, gt, s.timeout_s)
        how = "ok" if verdict is not None else "wall"
        mode = "in_process"
    with _STATE_LOCK:
        _counts[f"{mode}_checks"] += 1
        if verdict is None:
            _counts["timeouts"] += 1
        if verdict is not None or how == "cpu":  # a CPU budget spent is spent on any machine: remembered
            _cache[key] = bool(verdict)
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return verdict


def warm_up() -> None:
    """Start all workers now, in parallel, instead of on first need (nothing in in-process mode)."""
    pool = _get_pool(current_settings())
    if pool is not None:
        pool.warm_up()


def stats() -> dict:
    """Counts since start: ``worker_checks``, ``in_process_checks``, ``timeouts``, ``cache_hits``,
    ``hazards``, the
    pool's ``worker_starts``/``worker_deaths``, and ``fallback`` (why checks run in-process, or ``None``)."""
    with _STATE_LOCK:
        out = dict(_counts)
        if _pool is not None:
            out.update({f"pool_{k}": v for k, v in _pool.counts.items()})
        out["fallback"] = _fallback_reason
    return out


def shutdown() -> None:
    """End the workers (they are started again on next need)."""
    global _pool
    with _STATE_LOCK:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


atexit.register(shutdown)
