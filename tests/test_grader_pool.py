"""Symbolic checks under verl's reward threads: each check has its own budget (queueing and a busy
machine do not count), a timeout abandons only its own check, no worker means a correct in-process
fallback announced once, never a silent 0. Real worker processes, real math-verify."""

import concurrent.futures as futures
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

from verl_mupo.grading import pool
from verl_mupo.grading.settings import GraderSettings, GraderSettingsError, default_workers, from_env
from verl_mupo.scoring import compute_score

ROOT = Path(__file__).resolve().parents[1]
THINK = "<think>r</think> "


def identity(k):  # a right answer only math-verify decides (trigonometry), distinct for each k
    return f"{2 * k}\\sin x \\cos x", f"{k}\\sin 2x"


def slow(k):  # about a second of sympy CPU time, more than the budgets used here
    return f"\\cos(x)^{{{24 + 2 * k}}}", f"\\sin(x)^{{{24 + 2 * k}}}"


@pytest.fixture
def fresh():
    """Settings from the environment and no workers, before and after."""
    pool.configure()
    yield pool
    pool.configure()


def test_eight_threads_three_slow_inputs_lose_no_grade(fresh):
    pool.configure(workers=2, timeout_s=0.5, response_budget_s=60.0)  # CPU budgets here; wall: test_grader_budget
    items = [(identity(k), 1.0) for k in range(1, 25)] + [(slow(k), 0.0) for k in range(3)]
    items = items[:8] + items[24:25] + items[8:16] + items[25:26] + items[16:24] + items[26:]  # slow ones among them

    def grade(item):
        (answer, truth), _ = item
        return compute_score("virl39k", THINK + "\\boxed{" + answer + "}", truth)["acc"]

    before = pool.stats().get("timeouts", 0)  # process-wide counts: other tests' timeouts are in them
    with futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(grade, items))
    assert got == [want for _, want in items]
    s = pool.stats()
    # CPU budgets; on a starved machine (load 10 on 2 cores) one may hit the 10x wall cap instead
    assert s["timeouts"] - before == 3 and s.get("fallback") is None
    assert s.get("pool_timeouts_cpu", 0) + s.get("pool_timeouts_wall", 0) == 3


def test_a_timeout_abandons_only_its_own_check():
    p = pool.WorkerPool(2, timeout_s=0.5)
    try:
        with futures.ThreadPoolExecutor(4) as ex:
            slow_check = ex.submit(p.check, *slow(10))
            quick = [ex.submit(p.check, *identity(k)) for k in range(30, 42)]
            assert slow_check.result() == (None, "cpu")
            assert [f.result() for f in quick] == [(True, "ok")] * 12
        assert p.counts["timeouts_cpu"] == 1 and p.counts["checks"] == 12
    finally:
        p.close()


def test_queueing_does_not_count_against_the_budget():
    p = pool.WorkerPool(1, timeout_s=0.5)
    try:
        p.warm_up()
        p._slots.acquire()  # the only worker is busy for 2 s (four budgets)
        threading.Timer(2.0, p._slots.release).start()
        t0 = time.monotonic()
        assert p.check(*identity(50)) == (True, "ok")
        assert time.monotonic() - t0 >= 2.0
    finally:
        p.close()


def test_a_busy_machine_does_not_count_against_the_budget():
    p = pool.WorkerPool(1, timeout_s=0.5)
    try:
        p.warm_up()
        worker = p._idle[0]
        os.kill(worker.proc.pid, signal.SIGSTOP)  # the worker gets no CPU for 1.5 s (three budgets)
        threading.Timer(1.5, os.kill, (worker.proc.pid, signal.SIGCONT)).start()
        assert p.check(*identity(51)) == (True, "ok")
    finally:
        p.close()


def test_a_worker_that_dies_is_replaced_and_the_check_retried():
    p = pool.WorkerPool(1, timeout_s=2.0)
    try:
        p.warm_up()
        p._idle[0].proc.kill()
        assert p.check(*identity(52)) == (True, "ok")
        assert p.counts["worker_deaths"] == 1 and p.counts["worker_starts"] == 2
    finally:
        p.close()


def test_no_worker_means_in_process_grading_announced_once(fresh, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    pool.configure(workers=2, timeout_s=5.0, response_budget_s=60.0)
    before = pool.stats().get("in_process_checks", 0)  # process-wide counts
    with pytest.warns(RuntimeWarning, match="cannot start"):
        assert compute_score("x", THINK + "\\boxed{%s}" % identity(53)[0], identity(53)[1])["acc"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        assert compute_score("x", THINK + "\\boxed{%s}" % identity(54)[0], identity(54)[1])["acc"] == 1
        assert compute_score("x", THINK + "\\boxed{%s}" % identity(55)[0], "7\\sin 2x")["acc"] == 0
    s = pool.stats()
    assert "/nonexistent/python" in s["fallback"] and s["in_process_checks"] - before == 3


def test_in_process_mode_is_bounded(fresh):
    pool.configure(workers=0, timeout_s=0.3)
    t0 = time.monotonic()
    assert pool.symbolic_check(*slow(20)) is None  # abandoned at the deadline
    assert time.monotonic() - t0 < 5 * 0.3 + 1  # a hang guard: the check alone takes a second or more
    assert pool.symbolic_check(*identity(56)) is True


def test_a_script_read_from_standard_input_under_spawn_grades_right(tmp_path):
    # the old scorer's spawn pool could not re-import such a __main__ and graded right answers 0
    response, truth = THINK + "\\boxed{" + identity(57)[0] + "}", identity(57)[1]
    script = "\n".join(["import multiprocessing", "multiprocessing.set_start_method('spawn')",
                         "from verl_mupo.scoring import compute_score",
                         f"print('ACC', compute_score('x', {response!r}, {truth!r})['acc'])"])
    out = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "VERL_MUPO_GRADER_RESPONSE_BUDGET_S": "60"},
                         timeout=300)
    assert "ACC 1.0" in out.stdout, out.stdout + out.stderr


def test_workers_end_with_their_parent(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from verl_mupo.grading.pool import WorkerPool
        p = WorkerPool(2, 2.0)
        p.warm_up()
        print(" ".join(str(w.proc.pid) for w in p._idle), flush=True)
        os._exit(0)  # no clean-up: the workers must notice on their own
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    pids = [int(x) for x in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_forked_process_gets_its_own_pool(fresh):
    pool.configure(workers=1)
    first = pool._get_pool(pool.current_settings())
    first.pid = -1  # as if this process were a fork of the pool's owner
    assert pool._get_pool(pool.current_settings()) is not first


# ---- settings ---------------------------------------------------------------------------------

def test_settings_defaults_and_environment(monkeypatch):
    for name in ("VERL_MUPO_GRADER_WORKERS", "VERL_MUPO_GRADER_TIMEOUT_S", "VERL_MUPO_GRADER_MAX_ANSWER_CHARS",
                 "VERL_MUPO_GRADER_RESPONSE_BUDGET_S"):
        monkeypatch.delenv(name, raising=False)
    assert from_env() == GraderSettings(workers=default_workers(), timeout_s=2.0, max_answer_chars=1000,
                                        response_budget_s=1.0)
    monkeypatch.setenv("VERL_MUPO_GRADER_WORKERS", "3")
    monkeypatch.setenv("VERL_MUPO_GRADER_TIMEOUT_S", "0.25")
    assert from_env() == GraderSettings(workers=3, timeout_s=0.25, max_answer_chars=1000)
    assert from_env(workers=0).workers == 0


@pytest.mark.parametrize("name, value", [("VERL_MUPO_GRADER_WORKERS", "abc"), ("VERL_MUPO_GRADER_WORKERS", "-1"),
                                         ("VERL_MUPO_GRADER_TIMEOUT_S", "0"), ("VERL_MUPO_GRADER_TIMEOUT_S", "inf"),
                                         ("VERL_MUPO_GRADER_MAX_ANSWER_CHARS", "0"),
                                         ("VERL_MUPO_GRADER_RESPONSE_BUDGET_S", "0"),
                                         ("VERL_MUPO_GRADER_RESPONSE_BUDGET_S", "nan")])
def test_a_bad_setting_stops_grading_with_its_name(fresh, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(GraderSettingsError, match=name):
        pool.configure()
    monkeypatch.setattr(pool, "_settings_now", None)
    with pytest.raises(GraderSettingsError, match=name):  # never a silent 0 from compute_score
        compute_score("x", THINK + "\\boxed{1}", "1")


def test_missing_math_verify_is_loud(fresh, monkeypatch):
    monkeypatch.setattr(pool, "math_verify_available", lambda: False)
    assert compute_score("x", THINK + "\\boxed{2}", "2")["acc"] == 1  # the cheap rules need no math-verify
    with pytest.raises(pool.GraderUnavailable, match="pip install .math-verify>=0.7."):
        compute_score("x", THINK + "\\boxed{%s}" % identity(58)[0], identity(58)[1])
