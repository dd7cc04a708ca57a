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

    def ask(self, pred: str, gt: str, timeout_s: float, until: float | None = None) -> bool:
        """The worker's verdict. Raises :class:`_OutOfTime` once the check has used ``timeout_s`` of
        the worker's CPU time (wall time where CPU time cannot be read), or ``timeout_s`` times
        :data:`~verl_mupo.grading.settings.MAX_WALL_FACTOR` of wall time, counted from sending it,
        or at ``until`` (``time.monotonic()``: the response's wall-time budget ends; then
        ``_OutOfTime("deadline", cpu0, start)``, and :meth:`wait` with those finishes the check)."""
        cpu0 = self.cpu_seconds()
        try:
            self.proc.stdin.write(json.dumps({"pred": pred, "gt": gt}).encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise _WorkerDied from None
        return self.wait(cpu0, time.monotonic(), timeout_s, until)

    def wait(self, cpu0: float | None, start: float, timeout_s: float, until: float | None = None) -> bool:
        """The reply to the check sent at ``start`` (worker CPU time ``cpu0`` then): see :meth:`ask`."""
        hard = start + timeout_s * _settings.MAX_WALL_FACTOR
        why_hard = "wall"
        if until is not None and until < hard:
            hard, why_hard = until, "deadline"
        deadline = min(start + timeout_s, hard)
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
                    raise _OutOfTime(why_hard, cpu0, start) from None
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


def _left(until: float | None) -> float | None:
    """Seconds until ``until`` (``time.monotonic()``), at least 0; ``None`` for no limit."""
    return None if until is None else max(0.0, until - time.monotonic())


class WorkerPool:
    """``size`` worker processes for symbolic checks, each check with its own ``timeout_s``.

    A worker killed for a timeout is replaced at once in the background, so the next check seldom
    waits for a start. The first start of the pool (importing sympy and math-verify, once per
    process) is waited for without a deadline: a cold start is not charged to one response.

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
        self._cond = threading.Condition(self._lock)
        self._alive = 0  # workers idle, busy or starting
        self._warm = False  # the pool's first workers (``size`` of them) have all been ready
        self._ready_once = 0
        self._start_error: WorkerStartError | None = None
        self.counts = collections.Counter()

    def check(self, pred: str, gt: str, until: float | None = None, on_late=None) -> tuple[bool | None, str]:
        """``(verdict, how)``: math-verify's verdict and ``"ok"``, or ``None`` and why there is none:
        ``"cpu"``/``"wall"`` (out of time, see :meth:`_Worker.ask`), ``"died"`` (the worker died
        twice on it), ``"deadline"`` (the response's wall-time budget ended at ``until``, a
        ``time.monotonic()`` value, while the check waited for a worker or ran). A check that runs
        out of its own budget has its worker killed and replaced; one still running at ``until``
        keeps its worker and goes on in the background within its budget, and its verdict is given
        to ``on_late(verdict, how)`` (the caller caches it: the 15 rollouts of one prompt often
        repeat a pair), so a deadline never costs a worker start. Raises
        :class:`WorkerStartError` when no worker can be started."""
        cold, t0 = not self._warm, time.monotonic()
        if not self._slots.acquire(timeout=None if cold else _left(until)):
            self._count("timeouts_deadline")  # queueing: not the check's CPU budget, but the response's time
            return None, "deadline"
        handed_on = False
        try:
            for attempt in (1, 2):
                worker = self._take(until)
                if cold and until is not None:  # the pool's first start is not charged to this response
                    until, cold = until + (time.monotonic() - t0), False
                if worker is None:
                    self._count("timeouts_deadline")
                    return None, "deadline"
                try:
                    verdict = worker.ask(pred, gt, self.timeout_s, until)
                except _OutOfTime as e:
                    self._count(f"timeouts_{e.args[0]}")
                    if e.args[0] == "deadline":
                        handed_on = True
                        threading.Thread(target=self._finish, args=(worker, e.args[1], e.args[2], on_late),
                                         daemon=True, name="verl-mupo-late-check").start()
                        return None, "deadline"
                    self._retire(worker)
                    return None, e.args[0]
                except _WorkerDied:
                    self._retire(worker)
                    self._count("worker_deaths")
                    if attempt == 2:
                        return None, "died"
                    continue
                self._count("checks")
                with self._cond:
                    self._idle.append(worker)
                    self._cond.notify()
                return verdict, "ok"
        finally:
            if not handed_on:
                self._slots.release()
        return None, "died"  # unreachable

    def _finish(self, worker: _Worker, cpu0, start: float, on_late) -> None:
        """A check past its response's deadline, finished within its own budget; then the slot is freed."""
        verdict, how = None, "died"
        try:
            verdict, how = worker.wait(cpu0, start, self.timeout_s), "ok"
            self._count("late_checks")
            with self._cond:
                self._idle.append(worker)
                self._cond.notify()
        except _OutOfTime as e:
            how = e.args[0]
            self._count(f"timeouts_{how}")
            self._retire(worker)
        except _WorkerDied:
            self._count("worker_deaths")
            self._retire(worker)
        finally:
            self._slots.release()
        if on_late is not None:
            on_late(verdict, how)

    def _take(self, until: float | None = None) -> _Worker | None:
        """An idle worker, or one started for it (in the background); ``None`` when none is ready by
        ``until`` (no limit before the pool's first worker is ready). A worker ready too late joins
        the idle ones (its start is not wasted)."""
        with self._cond:
            while True:
                if self._start_error is not None:
                    raise self._start_error
                if self._idle:
                    return self._idle.pop()
                if self._alive < self.size:
                    for _ in range(1 if self._warm else self.size - self._alive):
                        self._spawn()  # cold: all first workers at once; warm: one replacement
                left = _left(until) if self._warm else None
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)

    def _spawn(self) -> None:
        """Start one worker in the background (``self._lock`` held); it joins the idle ones when ready."""
        self._alive += 1
        threading.Thread(target=self._start_into_idle, daemon=True, name="verl-mupo-worker-start").start()

    def _start_into_idle(self) -> None:
        try:
            w = self._start()
        except WorkerStartError as e:
            with self._cond:
                self._alive -= 1
                self._start_error = e
                self._cond.notify_all()
            return
        with self._cond:
            self._idle.append(w)
            self._ready_once += 1
            self._warm = self._warm or self._ready_once >= self.size
            self._cond.notify_all()

    def _retire(self, worker: _Worker) -> None:
        """Kill ``worker`` (out of time, or dead) and start its replacement now."""
        worker.kill()
        with self._cond:
            self._alive -= 1
            if self._alive < self.size and self._start_error is None:
                self._spawn()

    def _start(self) -> _Worker:
        worker = _Worker(self.python, self.start_timeout_s)
        self._count("worker_starts")
        return worker

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def warm_up(self, n: int | None = None) -> None:
        """Start up to ``n`` (default: all) workers now, in parallel, and wait until they are ready."""
        n = self.size if n is None else min(n, self.size)
        with self._cond:
            for _ in range(max(0, n - self._alive)):
                self._spawn()
            self._cond.wait_for(lambda: len(self._idle) >= min(n, self._alive) or self._start_error is not None,
                                timeout=self.start_timeout_s)

    def close(self) -> None:
        """End the idle workers (a busy worker ends when its parent exits)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
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


def configure(workers: int | None = None, timeout_s: float | None = None, max_answer_chars: int | None = None,
              response_budget_s: float | None = None) -> _settings.GraderSettings:
    """Replace the settings (``None`` keeps the environment's value or the default), end the current
    workers and forget cached verdicts. Returns the settings now in force."""
    global _settings_now, _pool, _fallback_reason
    new = _settings.from_env(workers=workers, timeout_s=timeout_s, max_answer_chars=max_answer_chars,
                             response_budget_s=response_budget_s)
    with _STATE_LOCK:
        old, _pool, _settings_now, _fallback_reason = _pool, None, new, None
        _cache.clear()
    if old is not None and old.pid == os.getpid():
        old.close()
    return new


#: what verl itself may pass to a custom reward function besides the reward kwargs (not grader settings)
VERL_EXTRA_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})


def apply_reward_kwargs(kwargs: dict) -> _settings.GraderSettings:
    """The grader settings given as ``reward.custom_reward_function.reward_kwargs`` (verl passes them
    to ``compute_score`` as keyword arguments): fields of
    :class:`~verl_mupo.grading.settings.GraderSettings` (``workers``, ``timeout_s``,
    ``max_answer_chars``, ``response_budget_s``) over the environment's values. The process's
    settings change (and its workers restart) only when they differ from those in force, so calling
    this for every response costs a comparison. Another name raises :class:`GraderSettingsError`
    naming the field (verl's own extras, :data:`VERL_EXTRA_KWARGS`, are ignored)."""
    fields = {f.name for f in _settings.dataclasses.fields(_settings.GraderSettings)}
    unknown = set(kwargs) - fields - VERL_EXTRA_KWARGS
    if unknown:
        raise _settings.GraderSettingsError(
            f"reward.custom_reward_function.reward_kwargs: unknown grader setting(s) {sorted(unknown)}; "
            f"known: {sorted(fields)} (verl_mupo/grading/settings.py)")
    wanted = {k: v for k, v in kwargs.items() if k in fields}
    now = current_settings()
    if all(getattr(now, k) == v for k, v in wanted.items()):
        return now
    return configure(**wanted)


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
    if timeout_s <= 0:
        return None
    box: list[bool] = []
    t = threading.Thread(target=lambda: box.append(symbolic_equal(pred, gt)), daemon=True,
                         name="verl-mupo-symbolic-check")
    t.start()
    t.join(timeout_s)
    return box[0] if box else None


def symbolic_check(pred: str, gt: str, until: float | None = None) -> bool | None:
    """math-verify's verdict on two cleaned answers within the time budget; ``None`` when the check
    ran out of time (then the answer counts as not equivalent), or when ``until`` (a
    ``time.monotonic()`` value: the end of the response's wall-time budget) came first, waiting for
    a worker included. Verdicts are cached per pair (not a deadline's refusal: it says nothing about
    the pair). An
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
        pool = _pool
        cold = pool is not None and not pool._warm  # its owner waits for the pool's first start, uncharged
        if not running[0].wait(None if cold else _left(until)):
            with _STATE_LOCK:
                _counts["timeouts_deadline"] += 1
            return None
        with _STATE_LOCK:
            _counts["joined_checks"] += 1
        return running[1]
    try:
        running[1] = _check(key, pred, gt, until)
    finally:
        with _STATE_LOCK:
            _running.pop(key, None)
        running[0].set()
    return running[1]


def _check(key, pred: str, gt: str, until: float | None = None) -> bool | None:
    if not math_verify_available():
        raise GraderUnavailable("the grader's symbolic stage needs math-verify, a core dependency of verl-mupo: "
                                "pip install 'math-verify>=0.7' (or reinstall verl-mupo)")
    s = current_settings()
    pool = _get_pool(s)
    verdict, how = None, "wall"
    if pool is not None:
        try:
            verdict, how = pool.check(pred, gt, until, on_late=lambda v, h: _remember(key, v, h))
            mode = "worker"
        except WorkerStartError as e:
            _fall_back(str(e))
            pool = None
    if pool is None:
        budget = s.timeout_s if until is None else min(s.timeout_s, _left(until))
        verdict = _in_thread(pred, gt, budget)
        how = "ok" if verdict is not None else ("wall" if budget == s.timeout_s else "deadline")
        mode = "in_process"
    with _STATE_LOCK:
        _counts[f"{mode}_checks"] += 1
        if verdict is None:
            _counts["timeouts"] += 1
            _counts[f"timeouts_{how}"] += 1
    _remember(key, verdict, how)
    return verdict


def _remember(key, verdict: bool | None, how: str) -> None:
    """Cache a verdict; a CPU budget spent is spent on any machine: remembered as different. A
    deadline's refusal says nothing about the pair: not remembered."""
    if verdict is not None or how == "cpu":
        with _STATE_LOCK:
            _cache[key] = bool(verdict)
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)


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
