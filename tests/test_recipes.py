"""Every ViRL39K recipe composes with the installed verl, passes verl's validate_config and MUPO's
start-up checks, without a GPU (DRY_RUN=1); MUPO and GRPO recipes differ only where they should."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(script: str, *extra: str) -> str:
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, "OUT_DIR": "/tmp/mupo_dry"}
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / script), *extra], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_mupo_and_grpo_recipes_validate_and_differ_only_in_the_estimator(size):
    mupo = dry_run(f"mupo_{size}.sh")
    grpo = dry_run(f"grpo_{size}.sh")
    for out in (mupo, grpo):
        assert "verl validate_config: ok" in out and "MUPO is registered with verl" in out
        assert "actor_rollout_ref.rollout.n: 15" in out and "actor_rollout_ref.actor.optim.lr: 1e-06" in out
        assert "trainer.total_epochs: 2" in out and "actor_rollout_ref.rollout.temperature: 1.0" in out
        assert "model: Qwen/Qwen3-Embedding-0.6B" in out and "actor_rollout_ref.rollout.val_kwargs.n: 4" in out
        assert "placement: service" in out
    assert "adv_estimator: mupo" in mupo and "monitor_only: false" in mupo
    assert "adv_estimator: grpo" in grpo and "monitor_only: true" in grpo
    same = lambda s: [l for l in s.splitlines() if not l.startswith(("adv_estimator", "  monitor_only"))]  # noqa: E731
    assert same(mupo) == same(grpo)
    assert f"Qwen2.5-VL-{size.upper()}-Instruct" in mupo


def test_dry_run_reports_a_bad_setting():
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / "mupo_3b.sh"), "actor_rollout_ref.rollout.n=8"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0 and "actor_rollout_ref.rollout.n=8" in out.stderr
