"""Issue 19, the per-response wall-time budget: no response's grade takes more than
``response_budget_s`` of wall time (waiting for a worker included), from 8 threads; a check that cannot
finish in it is refused (0), never paid, and its refusal is not remembered as a verdict. Before,
each check had 2 s of worker CPU and one answer up to 16 checks: a hostile response took 9.5 s."""

import concurrent.futures as futures
import time

import pytest

from verl_mupo.grading import pool
from verl_mupo.scoring import compute_score

THINK = "<think>r</think> "


def slow(k):  # seconds of sympy CPU time: a trigonometric identity with a large power (the kind)
    return f"\\sin(x)^{{{40 + 2 * k}}} + \\cos(x)^2", f"(x+1)^{{{70 + k}}} + \\sin(x)^2"


def identity(k):
    return f"{2 * k}\\sin x \\cos x", f"{k}\\sin 2x"


@pytest.fixture
def budget():
    pool.configure(workers=2, timeout_s=2.0, response_budget_s=0.5)
    pool.warm_up()  # the pool's first start is not charged to a response; measured warm here
    compute_score("x", THINK + "\\boxed{1}", "1")  # and the process's first grade imports what it needs
    yield 0.5
    pool.configure()


def test_eight_threads_of_slow_responses_each_within_the_budget(budget):
    items = [slow(k) for k in range(12)] + [(f"{k}, " * 16 + "1", "99") for k in range(4)]

    def one(item):
        answer, truth = item
        t0 = time.monotonic()
        acc = compute_score("x", THINK + "\\boxed{" + answer + "}", truth)["acc"]
        return acc, time.monotonic() - t0

    with futures.ThreadPoolExecutor(8) as ex:
        out = list(ex.map(one, items))
    assert all(acc == 0.0 for acc, _ in out)  # none is paid by running out of time
    worst = max(t for _, t in out)
    assert worst < budget + 0.5, worst  # the budget, plus killing a worker and scheduling on a busy machine
    assert pool.stats().get("timeouts_deadline", 0) >= 1


def test_a_refusal_at_the_deadline_is_not_a_verdict(budget):
    pred, gt = identity(71)
    assert pool.symbolic_check(pred, gt, until=time.monotonic() + 1e-4) is None
    assert pool.symbolic_check(pred, gt) is True  # not cached as "different"


def test_waiting_for_a_worker_counts_against_the_response():
    p = pool.WorkerPool(1, timeout_s=5.0)
    try:
        p.warm_up()
        with futures.ThreadPoolExecutor(2) as ex:
            busy = ex.submit(p.check, *slow(30))  # holds the only worker for seconds
            time.sleep(0.2)
            t0 = time.monotonic()
            assert p.check(*identity(72), until=time.monotonic() + 0.3) == (None, "deadline")
            assert time.monotonic() - t0 < 1.0
            busy.result()
    finally:
        p.close()


def test_in_process_checks_keep_the_budget():
    pool.configure(workers=0, timeout_s=5.0, response_budget_s=0.3)
    try:
        t0 = time.monotonic()
        assert compute_score("x", THINK + "\\boxed{" + slow(40)[0] + "}", slow(40)[1])["acc"] == 0.0
        assert time.monotonic() - t0 < 0.3 + 0.5
    finally:
        pool.configure()


def test_settings_come_from_reward_kwargs_through_verl():
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    from verl_mupo.grading.settings import GraderSettingsError

    cfg = OmegaConf.create({"reward": {"custom_reward_function": {
        "path": "pkg://verl_mupo.scoring", "name": "compute_score",
        "reward_kwargs": {"response_budget_s": 0.7, "max_answer_chars": 500}}}})
    fn = get_custom_reward_fn(cfg)
    try:
        assert fn(data_source="x", solution_str=THINK + "\\boxed{3}", ground_truth="3", extra_info=None)["acc"] == 1
        s = pool.current_settings()
        assert (s.response_budget_s, s.max_answer_chars) == (0.7, 500)
        assert compute_score("x", THINK + "\\boxed{3}", "3", None, reward_router_address=None)["acc"] == 1  # verl's
        with pytest.raises(GraderSettingsError, match="reward_kwargs.*budget_s"):
            compute_score("x", THINK + "\\boxed{3}", "3", None, budget_s=0.5)
        with pytest.raises(GraderSettingsError, match="RESPONSE_BUDGET_S"):
            compute_score("x", THINK + "\\boxed{3}", "3", None, response_budget_s=-1)
    finally:
        pool.configure()
