"""verl's real PPO loop (``python -m verl.trainer.main_ppo``) with MUPO on CPU, through
``recipes/cpu_smoke.sh``: the hook, the reward manager in verl's reward workers, plugin loading in
every Ray process, the metrics, the lambda schedule across a resume, K=1 against GRPO.

Each run takes 40-70 s on 2 cores (most of it Ray and worker start-up)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from verl_mupo.cpu.report import parse_console_metrics
from verl_mupo.diversity import diversity_weight

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "recipes" / "cpu_smoke.sh"


def _ray_processes() -> int:
    out = subprocess.run(["pgrep", "-fc", "raylet|gcs_server"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def run_smoke(work: Path, algo: str, *overrides: str, env: dict | None = None, timeout: int = 540):
    full_env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(work), **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), algo, *overrides], env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    log_path = work / f"{algo}.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return proc, log, time.monotonic() - t0


def expected_lambda(step: int, total: int) -> float:
    return diversity_weight(step - 1, total - 1, 0.4, 0.1, "cosine")


@pytest.fixture(scope="module")
def mupo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("mupo")
    before = _ray_processes()
    proc, log, seconds = run_smoke(work, "mupo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"rows": parse_console_metrics(log), "stdout": proc.stdout, "seconds": seconds,
            "ray_before": before, "ray_after": _ray_processes()}


def test_mupo_metrics_every_step(mupo_run):
    rows = mupo_run["rows"]
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    keys = ["mupo/lambda", "mupo/acc_mean", "mupo/diversity_bonus_mean", "mupo/pairwise_distance_mean",
            "mupo/group_size_min", "mupo/group_size_mean", "mupo/group_size_max", "mupo/num_groups_mean",
            "mupo/frac_prompts_reduced_k", "mupo/time_embed_s", "mupo/time_cluster_s"]
    for r in rows:
        missing = [k for k in keys if k not in r]
        assert not missing, f"step {r['step']} lacks {missing}"
        assert r["mupo/group_size_min"] >= 3 and r["mupo/num_groups_mean"] == 2
        assert all(math.isfinite(r[k]) for k in keys)
    assert "lambda" in mupo_run["stdout"] and "div_bonus" in mupo_run["stdout"]  # the printed table


def test_diversity_bonus_fires(mupo_run):
    bonus = [r["mupo/diversity_bonus_mean"] for r in mupo_run["rows"]]
    assert max(bonus) > 0, bonus


def test_lambda_follows_the_cosine_schedule(mupo_run):
    lams = [r["mupo/lambda"] for r in mupo_run["rows"]]
    assert lams == pytest.approx([expected_lambda(s, 4) for s in (1, 2, 3, 4)], abs=1e-9)
    assert lams[0] == pytest.approx(0.4) and lams[-1] == pytest.approx(0.1)


def test_no_ray_processes_left_behind(mupo_run):
    assert mupo_run["ray_after"] <= mupo_run["ray_before"]


def test_resume_continues_lambda_from_the_checkpoint(tmp_path, mupo_run):
    # run A stops after step 2 and its checkpoint; run B (4 steps planned) resumes from it
    first, log_a, _ = run_smoke(tmp_path, "mupo", "trainer.total_training_steps=2", "trainer.save_freq=2")
    assert first.returncode == 0, log_a[-3000:]
    assert (tmp_path / "ckpt_mupo" / "global_step_2").is_dir()
    second, log_b, _ = run_smoke(tmp_path, "mupo", "trainer.total_training_steps=4", "trainer.resume_mode=auto")
    assert second.returncode == 0, log_b[-3000:]
    rows = parse_console_metrics(log_b)
    assert [int(r["step"]) for r in rows] == [3, 4]
    uninterrupted = {int(r["step"]): r["mupo/lambda"] for r in mupo_run["rows"]}
    assert [r["mupo/lambda"] for r in rows] == pytest.approx([uninterrupted[3], uninterrupted[4]], abs=1e-12)


def _step_records(path: Path):
    d = np.load(path, allow_pickle=True)
    recs = [(tuple(p), tuple(r), float(a), float(s))
            for p, r, a, s in zip(d["prompts"], d["responses"], d["advantages"], d["scores"])]
    return sorted(recs)


def test_k1_mupo_equals_grpo_in_the_first_step(tmp_path):
    common = ["trainer.total_training_steps=1"]
    env = {"VERL_MUPO_CPU_DETERMINISTIC": "1"}
    mupo, log_m, _ = run_smoke(tmp_path / "m", "mupo", *common, "algorithm.mupo.num_groups=1",
                               "algorithm.mupo.lambda_max=0", "algorithm.mupo.lambda_min=0",
                               env={**env, "VERL_MUPO_DUMP_ADVANTAGES": str(tmp_path / "dump_m")})
    assert mupo.returncode == 0, log_m[-3000:]
    grpo, log_g, _ = run_smoke(tmp_path / "g", "grpo", *common,
                               env={**env, "VERL_MUPO_DUMP_ADVANTAGES": str(tmp_path / "dump_g")})
    assert grpo.returncode == 0, log_g[-3000:]
    a = _step_records(tmp_path / "dump_m" / "step_1.npz")
    b = _step_records(tmp_path / "dump_g" / "step_1.npz")
    assert len(a) == len(b) == 24
    assert [x[:2] for x in a] == [x[:2] for x in b], "the two runs sampled different responses"
    assert [x[2] for x in a] == [x[2] for x in b]  # bitwise equal advantages
    assert any(x[2] != 0 for x in a), "degenerate batch: every advantage is zero"


def test_legacy_trainer_stops_at_once_with_the_documented_message(tmp_path):
    proc, log, seconds = run_smoke(tmp_path, "mupo", "trainer.use_v1=false", timeout=240)
    assert proc.returncode != 0
    assert "set trainer.use_v1=true" in log
    assert "step:1" not in log


def test_unknown_mupo_key_fails_at_startup(tmp_path):
    proc, log, seconds = run_smoke(tmp_path, "mupo", "+algorithm.mupo.num_grups=3", timeout=240)
    assert proc.returncode != 0
    assert "unknown key(s) algorithm.mupo.num_grups" in log
    assert "Unknown advantage estimator" not in log and "step:1" not in log


def test_missing_embedding_model_stops_before_the_first_rollout(tmp_path):
    proc, log, seconds = run_smoke(tmp_path, "mupo", f"algorithm.mupo.embedder.model={tmp_path}/no-such-model",
                                   timeout=300)
    assert proc.returncode != 0
    assert "algorithm.mupo.embedder.model" in log and "could not load the embedding model" in log
    assert "step:1" not in log and "timing_s/gen" not in log


def test_embedder_service_runs_inside_verls_placement_groups(tmp_path):
    proc, log, _ = run_smoke(tmp_path, "mupo", "trainer.total_training_steps=2",
                             "algorithm.mupo.embedder.placement=service", "algorithm.mupo.embedder.gpu_share=0.1")
    assert proc.returncode == 0, log[-3000:]
    rows = parse_console_metrics(log)
    assert [r.get("mupo/embedder_actors") for r in rows] == [1.0, 1.0]
    assert all(r["mupo/group_size_min"] >= 3 for r in rows)


def test_embedder_service_that_cannot_be_placed_stops_before_the_first_rollout(tmp_path):
    # verl's FSDP worker holds 1/3 of the (logical) GPU bundle: 0.9 cannot fit
    proc, log, _ = run_smoke(tmp_path, "mupo", "algorithm.mupo.embedder.placement=service",
                             "algorithm.mupo.embedder.gpu_share=0.9", "algorithm.mupo.embedder.start_timeout_s=20",
                             timeout=300)
    assert proc.returncode != 0
    assert "algorithm.mupo.embedder.gpu_share" in log and "step:1" not in log
