"""Helpers of the end-to-end tests: verl's real PPO loop (``python -m verl.trainer.main_ppo``)
through ``recipes/cpu_smoke.sh`` on CPU. Not a test module: ``test_e2e_cpu.py``,
``test_e2e_legacy.py`` and ``test_report.py`` import it, and ``conftest.py`` builds the one VL run
they share (:func:`vl_smoke_run`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from verl_mupo.cpu.report import parse_console_metrics
from verl_mupo.diversity import diversity_weight

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "recipes" / "cpu_smoke.sh"
STEPS = 6
# one run serves most tests: the README's main job as it runs by default (MUPO_SMOKE_VAL=1:
# validation before training and every 2 steps, n=4 samples at temperature 1.0, console and file
# logger) for 6 MUPO steps on images with every response at the maximum length (all sequences of
# every batch have one length: verl 0.9.1's mRoPE bug case), a checkpoint at step 3
VL_RUN = (f"trainer.total_training_steps={STEPS}", "trainer.save_freq=3", "actor_rollout_ref.rollout.ignore_eos=True")
DETERMINISTIC = {"VERL_MUPO_CPU_DETERMINISTIC": "1"}
#: overrides that turn the recipe's GRPO baseline (grpo_monitor) into plain verl GRPO: no
#: algorithm.mupo block, verl's naive reward manager (the plugin stays installed and loaded)
PLAIN_GRPO = ("~algorithm.mupo", "reward.reward_manager.name=naive")


def ray_processes() -> int:
    out = subprocess.run(["pgrep", "-fc", "raylet|gcs_server"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def run_smoke(work: Path, algo: str, *overrides: str, env: dict | None = None, timeout: int = 900):
    """``recipes/cpu_smoke.sh algo overrides`` in ``work``; ``(process, verl's log, seconds)``. No
    validation unless ``env`` asks for it (``MUPO_SMOKE_VAL=1`` is the recipe's default)."""
    full_env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(work), "MUPO_SMOKE_VAL": "0",
                **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), algo, *overrides], env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    log_path = work / algo / f"{algo}.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return proc, log, time.monotonic() - t0


def vl_smoke_run(work: Path) -> dict:
    """The shared VL run (:data:`VL_RUN`), deterministic rollout; its folder is ``work / "mupo"``."""
    before = ray_processes()
    proc, log, seconds = run_smoke(work, "mupo", *VL_RUN, env={**DETERMINISTIC, "MUPO_SMOKE_VAL": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + log[-3000:]
    return {"work": work, "rows": parse_console_metrics(log), "log": log, "stdout": proc.stdout,
            "seconds": seconds, "ray_before": before, "ray_after": ray_processes()}


def expected_lambda(step: int, total: int) -> float:
    return diversity_weight(step - 1, total - 1, 0.4, 0.1, "cosine")


def train_rows(rows):
    return [r for r in rows if "mupo/lambda" in r or "critic/advantages/mean" in r]


def step_records(path: Path):
    """``(prompt, response, mean advantage, score)`` of every row of a dumped step, sorted."""
    d = np.load(path, allow_pickle=True)
    recs = [(tuple(p), tuple(r), float(a), float(s))
            for p, r, a, s in zip(d["prompts"], d["responses"], d["advantages"], d["scores"])]
    return sorted(recs)


def verl_grpo_advantages(path: Path) -> np.ndarray:
    """verl's own ``compute_grpo_outcome_advantage`` of a dumped step's scores and uids (row order)."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    d = np.load(path, allow_pickle=True)
    rewards = torch.tensor(d["scores"], dtype=torch.float32).unsqueeze(-1)
    adv, _ = compute_grpo_outcome_advantage(rewards, torch.ones_like(rewards), np.array(d["uids"], dtype=object))
    return adv[:, 0].numpy()


def assert_k1_mupo_equals_grpo(tmp_path, *overrides: str) -> tuple[str, str]:
    """Three steps of MUPO with K=1, lambda=0 and format_weight=0 and three of plain verl GRPO (:data:`PLAIN_GRPO`)
    on the text-only model with the deterministic rollout: the same responses and bitwise equal
    advantages, step by step, until the first step whose advantages are not all zero (a random policy
    often answers nothing right in a step; until then no gradient flows and both runs keep identical
    weights, so they sample the same). The GRPO run also shows the plugin leaves a plain run alone:
    no ``mupo/*`` or ``val-mupo/*`` metric, and its advantages are verl's GRPO of its scores.
    Returns both logs."""
    common = ["trainer.total_training_steps=3", *overrides]
    env = {**DETERMINISTIC, "MUPO_SMOKE_MODEL": "text"}
    # format_weight=0: the mupo reward manager's score is then the scorer's accuracy, which is what
    # verl's naive manager gives the plain GRPO run (MUPO's default reward is 0.9 acc + 0.1 format)
    mupo, log_m, _ = run_smoke(tmp_path / "m", "mupo", *common, "algorithm.mupo.num_groups=1",
                               "algorithm.mupo.lambda_max=0", "algorithm.mupo.lambda_min=0",
                               "algorithm.mupo.format_weight=0",
                               env={**env, "VERL_MUPO_DUMP_ADVANTAGES": str(tmp_path / "dump_m")})
    assert mupo.returncode == 0, log_m[-3000:]
    grpo, log_g, _ = run_smoke(tmp_path / "g", "grpo", *common, *PLAIN_GRPO,
                               env={**env, "VERL_MUPO_DUMP_ADVANTAGES": str(tmp_path / "dump_g")})
    assert grpo.returncode == 0, log_g[-3000:]
    assert "Qwen2ForCausalLM" in log_m and "Qwen2ForCausalLM" in log_g
    assert [int(r["step"]) for r in train_rows(parse_console_metrics(log_m))] == [1, 2, 3]
    plain = parse_console_metrics(log_g)
    assert [int(r["step"]) for r in train_rows(plain)] == [1, 2, 3]
    assert not [k for r in plain for k in r if k.startswith(("mupo/", "val-mupo/"))]
    for step in (1, 2, 3):
        dump = tmp_path / "dump_g" / f"step_{step}.npz"
        d = np.load(dump, allow_pickle=True)
        assert np.array_equal(d["advantages"], verl_grpo_advantages(dump)), f"step {step}: not verl's GRPO"
        a = step_records(tmp_path / "dump_m" / f"step_{step}.npz")
        b = step_records(dump)
        assert len(a) == len(b) == 24
        assert [x[:2] for x in a] == [x[:2] for x in b], f"step {step}: the two runs sampled different responses"
        assert [x[3] for x in a] == [x[3] for x in b], f"step {step}: the two runs scored differently"
        assert [x[2] for x in a] == [x[2] for x in b], f"step {step}"  # bitwise equal advantages
        if any(x[2] != 0 for x in a):
            return log_m, log_g
    pytest.fail("degenerate run: every advantage of the three steps is zero")
