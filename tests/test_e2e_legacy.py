"""MUPO on verl 0.9.1's legacy trainer (``trainer.use_v1=false``: ``RayPPOTrainer``, the trainer
verl's next release keeps) through ``recipes/cpu_smoke.sh`` on CPU: the tiny Qwen2.5-VL with images
for 4 steps on equal-length batches (the mRoPE case of ``left_right_2_no_padding``), validation with
``val-mupo/*``, a resume from a checkpoint, K=1 against GRPO bit for bit; and the v1 trainer's
``colocate_async`` mode. Each run takes 1-2 min on 2 cores."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from smoke import DETERMINISTIC, assert_k1_mupo_equals_grpo, expected_lambda, run_smoke, train_rows
from verl_mupo.cpu.report import parse_console_metrics

pytestmark = pytest.mark.e2e

STEPS = 4
LEGACY = ("trainer.use_v1=false",)
# 4 MUPO steps with every response at the maximum length, checkpoints at steps 2 and 4, validation
# with n=4 samples at temperature 1.0 before training and after the last step
VL_RUN = LEGACY + (f"trainer.total_training_steps={STEPS}", "trainer.save_freq=2", f"trainer.test_freq={STEPS}",
                   "actor_rollout_ref.rollout.ignore_eos=True")


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("legacy")
    proc, log, _ = run_smoke(work, "mupo", *VL_RUN, env={**DETERMINISTIC, "MUPO_SMOKE_VAL": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + log[-3000:]
    return {"work": work, "rows": parse_console_metrics(log), "log": log}


def test_the_legacy_trainer_runs_mupo_on_images(legacy_run):
    log = legacy_run["log"]
    assert "main_ppo_v0" in log and "RayPPOTrainer" in log  # verl's legacy TaskRunner and trainer
    assert "Qwen2_5_VLForConditionalGeneration" in log
    rows = train_rows(legacy_run["rows"])
    assert [int(r["step"]) for r in rows] == list(range(1, STEPS + 1))
    for r in rows:
        assert r["prompt_length/min"] == r["prompt_length/max"] >= 64, r["step"]  # image tokens, one length
        assert r["response_length/min"] == r["response_length/max"] == 16, r["step"]  # the mRoPE case
        assert r["mupo/group_size_min"] >= 3 and r["mupo/num_groups_mean"] == 2
        assert r["mupo/global_step"] == r["step"]
        keys = [k for k in r if k.startswith("mupo/")]
        assert len(keys) >= 14 and all(math.isfinite(r[k]) for k in keys)
        # the actor (FSDP, with the pixels) and the rollout agree on the log-probs
        assert r["training/rollout_probs_diff_mean"] < 1e-7
    lams = [r["mupo/lambda"] for r in rows]
    assert lams == pytest.approx([expected_lambda(s, STEPS) for s in range(1, STEPS + 1)], abs=1e-9)
    assert max(r["mupo/diversity_bonus_mean"] for r in rows) >= 0


def test_legacy_validation_logs_val_mupo(legacy_run):
    val = [r for r in legacy_run["rows"] if any(k.startswith("val-mupo/") for k in r)]
    assert [int(r["step"]) for r in val] == [0, STEPS]
    for r in val:
        for k in (1, 2, 3, 4):
            assert 0 <= r[f"val-mupo/virl39k/acc@{k}"] <= 1
        assert r["val-mupo/pairwise_distance"] > 0
    record = json.loads((legacy_run["work"] / "mupo" / "val" / f"{STEPS}.val-mupo.json").read_text())
    assert record["sampling"]["n"] == 4
    emb = np.load(legacy_run["work"] / "mupo" / "val" / f"{STEPS}.embeddings.npz", allow_pickle=True)
    assert len(emb["prompt"]) == 4 * len(set(emb["prompt"].tolist())) and emb["embedding"].shape[0] == len(emb["prompt"])


def test_legacy_resume_from_step_2_continues_the_run(tmp_path, legacy_run):
    ckpt = tmp_path / "mupo" / "ckpt"
    shutil.copytree(legacy_run["work"] / "mupo" / "ckpt" / "global_step_2", ckpt / "global_step_2")
    (ckpt / "latest_checkpointed_iteration.txt").write_text("2")
    proc, log, _ = run_smoke(tmp_path, "mupo", *VL_RUN, "trainer.save_freq=-1", "trainer.test_freq=-1",
                             "trainer.resume_mode=auto", env=DETERMINISTIC)
    assert proc.returncode == 0, log[-3000:]
    resumed = train_rows(parse_console_metrics(log))
    assert [int(r["step"]) for r in resumed] == [3, 4]
    full = {int(r["step"]): r for r in train_rows(legacy_run["rows"])}
    assert [r["mupo/lambda"] for r in resumed] == pytest.approx([full[s]["mupo/lambda"] for s in (3, 4)], abs=1e-12)
    for key in ("mupo/pairwise_distance_mean", "mupo/acc_mean", "critic/score/mean", "actor/grad_norm"):
        assert resumed[0][key] == pytest.approx(full[3][key], rel=1e-5, abs=1e-9), key


def test_legacy_k1_mupo_equals_plain_grpo_bitwise(tmp_path):
    # the legacy trainer's compute_advantage gets the DataProto, and the dump reads advantages and
    # scores from it; the GRPO run is plain verl GRPO with the plugin installed (no mupo/* metric,
    # verl's own advantages)
    log_m, log_g = assert_k1_mupo_equals_grpo(tmp_path, *LEGACY)
    assert "main_ppo_v0" in log_m and "main_ppo_v0" in log_g


def test_v1_colocate_async_runs_mupo(tmp_path):
    # the v1 trainer's colocate_async mode goes through the same PPOTrainer._compute_advantage hook
    proc, log, _ = run_smoke(tmp_path, "mupo", "trainer.v1.trainer_mode=colocate_async",
                             "trainer.total_training_steps=4", env={"MUPO_SMOKE_MODEL": "text"})
    assert proc.returncode == 0, log[-3000:]
    rows = train_rows(parse_console_metrics(log))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["mupo/group_size_min"] >= 3 and r["mupo/num_groups_mean"] == 2 for r in rows)
    assert [r["mupo/lambda"] for r in rows] == pytest.approx([expected_lambda(s, 4) for s in range(1, 5)], abs=1e-9)
