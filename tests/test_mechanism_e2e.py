"""The mechanism experiment's whole pipeline, reduced (docs/mechanism.md, section 7), and the guard
that MUPO keeps the strategies GRPO collapses from: data and the 300-step warm start, GRPO and MUPO
through ``python -m verl.trainer.main_ppo`` on CPU, one seed, 25 steps, held-out evaluation at steps 0
and 25, the measurements and the figures. About 7 minutes on 2 idle cores (two verl start-ups).

The guard (``test_mupo_keeps_the_strategies_where_grpo_collapses``) compares the training batches of
steps 21-25. Margins, from the 3 seeds of each algorithm in the documented experiment:

- strategy entropy: GRPO 0.41-0.79 bits, MUPO 1.23-1.43 bits. The smallest gap between any MUPO
  seed and any GRPO seed is 0.44; the test asks for 0.25.
- ``coast`` share: GRPO 0.82-0.91, MUPO 0.51-0.63. The smallest gap is 0.19; the test asks for 0.10.

A change that makes MUPO degenerate to GRPO (the clustering not called, one group per prompt, the
group advantages ignored) fails it. Two GRPO runs differ by up to 0.38 bits here, so a degenerate
MUPO still passes now and then: the guard is probabilistic, not exact (the exact K=1 == GRPO check
is in test_e2e_cpu.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from verl_mupo.mechanism import analysis, task

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
STEPS = 25
WINDOW = range(21, 26)
ENV = {"MECH_SEEDS": "1", "MECH_STEPS": str(STEPS), "MECH_TEST_FREQ": str(STEPS), "MECH_VAL_PROBLEMS": "8"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("mechanism")
    env = {**os.environ, **ENV, "PYTHON": sys.executable, "MECH_DIR": str(work)}
    proc = subprocess.run(["bash", str(ROOT / "recipes" / "mechanism" / "run.sh")], env=env, capture_output=True,
                          text=True, timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figs = subprocess.run(["bash", str(ROOT / "recipes" / "mechanism" / "figures.sh")], capture_output=True, text=True,
                          env={**env, "MECH_FIGURES": str(work / "figures")}, timeout=300, cwd=ROOT)
    assert figs.returncode == 0, figs.stdout[-3000:] + figs.stderr[-3000:]
    return {"work": work, "stdout": proc.stdout, "summary": json.loads((work / "summary.json").read_text())}


def test_both_algorithms_ran_from_the_same_checkpoint(pipeline):
    work = pipeline["work"]
    assets = json.loads((work / "assets" / "assets.json").read_text())
    for algo in ("grpo", "mupo"):
        log = (work / f"{algo}_s1" / "main_ppo.log").read_text(errors="replace")
        assert assets["model"] in log
    assert "| base (warm start, step 0) | 2 runs |" in pipeline["stdout"]
    assert f"| GRPO step {STEPS} |" in pipeline["stdout"]


def test_measurements_every_step_and_on_the_heldout_split(pipeline):
    runs = {r["algo"]: r for r in pipeline["summary"]["runs"]}
    assert set(runs) == {"grpo", "mupo"}
    for r in runs.values():
        assert sorted(int(s) for s in r["train"]) == list(range(1, STEPS + 1))
        assert sorted(int(s) for s in r["heldout"]) == [0, STEPS]
        for t in r["train"].values():
            assert t["responses"] == 8 * 12 and sum(t["share"].values()) == pytest.approx(1.0)
            assert 0.0 <= t["entropy"] <= 2.0
        for h in r["heldout"].values():
            acc = [h["acc_at_k"][str(k)] for k in range(1, 13)]
            assert h["n"] == 12 and h["prompts"] == 8
            assert all(a <= b + 1e-12 for a, b in zip(acc, acc[1:]))  # acc@k never falls with k
            assert 0.0 <= h["coverage"] <= 1.0
    # both runs validated the same step-0 checkpoint on the same problems (sampling differs by run)
    base = [runs[a]["heldout"]["0"]["prompts"] for a in runs]
    assert base == [8, 8]


def test_mupo_metrics_are_computed_in_both_runs(pipeline):
    runs = {r["algo"]: r for r in pipeline["summary"]["runs"]}
    keys = ["mupo/lambda", "mupo/acc_mean", "mupo/diversity_bonus_mean", "mupo/pairwise_distance_mean",
            "mupo/num_groups_mean", "mupo/group_size_min"]
    for algo, r in runs.items():
        steps = {int(s): m for s, m in r["metrics"].items() if int(s) >= 1}
        assert sorted(steps) == list(range(1, STEPS + 1)), algo
        for m in steps.values():
            assert all(k in m for k in keys), (algo, [k for k in keys if k not in m])
            assert m["mupo/num_groups_mean"] == 3 and m["mupo/group_size_min"] >= 3
    # the warm start writes the reasoning spans MUPO embeds: strategies must be distinct for MiniLM
    distances = [m["mupo/pairwise_distance_mean"] for m in runs["mupo"]["metrics"].values()
                 if "mupo/pairwise_distance_mean" in m]
    assert distances and all(d > 0.1 for d in distances)


def test_aggregate_and_figures(pipeline):
    agg = pipeline["summary"]["aggregate"]
    assert set(agg) == {"base", "ks", "grpo", "mupo"} and agg["ks"] == list(range(1, 13))
    for a in ("grpo", "mupo"):
        final = agg[a]["heldout"][str(STEPS)]
        assert set(final) >= {"acc@1", "acc@12", "entropy", "coverage", *[f"share_{s}" for s in task.STRATEGY_NAMES]}
    figs = sorted(p.name for p in (pipeline["work"] / "figures").glob("*.png"))
    assert figs == ["mechanism_acc_at_k.png", "mechanism_acc_over_steps.png", "mechanism_entropy.png",
                    "mechanism_execution.png", "mechanism_strategies.png"]


def test_finished_runs_are_skipped(pipeline):
    env = {**os.environ, **ENV, "PYTHON": sys.executable, "MECH_DIR": str(pipeline["work"])}
    proc = subprocess.run(["bash", str(ROOT / "recipes" / "mechanism" / "run.sh")], env=env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reusing" in (pipeline["work"] / "warmstart.log").read_text()
    assert proc.stdout.count("done, skipped") == 2
    assert analysis.find_runs(pipeline["work"])  # the summary was printed again from the same runs


def test_mupo_keeps_the_strategies_where_grpo_collapses(pipeline):
    curves = {a: analysis.training_curve(pipeline["work"] / f"{a}_s1") for a in ("grpo", "mupo")}
    coast = {a: float(np.mean([c[s]["share"]["coast"] for s in WINDOW])) for a, c in curves.items()}
    entropy = {a: float(np.mean([c[s]["entropy"] for s in WINDOW])) for a, c in curves.items()}
    print(f"steps 21-25: entropy {entropy}, coast share {coast}")  # the numbers docs/mechanism.md quotes (pytest -s)
    assert entropy["mupo"] - entropy["grpo"] >= 0.25, (coast, entropy)
    assert coast["grpo"] - coast["mupo"] >= 0.10, (coast, entropy)
