"""Every ViRL39K recipe composes with the installed verl, passes verl's validate_config and MUPO's
start-up checks, without a GPU (DRY_RUN=1), on the nine benchmarks of the authors' README; MUPO and
GRPO recipes differ only where they should; the authors' settings and the evaluation mode are
documented options that validate too.

The recipe runs ``$PYTHON -m verl_mupo.dry_run <overrides>``; ``PYTHON`` here is a wrapper that also
saves those overrides, so the tests read the exact config the recipe composes (with verl's Hydra)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from verl_mupo.data.benchmarks import CATALOG, DEFAULT_BENCHMARKS
from verl_mupo.dry_run import compose

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """A ``PYTHON`` for the recipe that records each ``-m verl_mupo.dry_run`` call's overrides."""
    tmp_path = tmp_path_factory.mktemp("python")
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/usr/bin/env bash\nif [ "$2" = verl_mupo.dry_run ]; then '
                       f'n=$(ls "{tmp_path}"/argv.* 2>/dev/null | wc -l); '
                       f'printf "%s\\0" "${{@:3}}" > "{tmp_path}/argv.$n"; fi\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def dry_run(python, script: str, *extra: str, **env) -> tuple[str, list]:
    """The recipe's output and the config of each verl run it would start."""
    full_env = {**os.environ, "DRY_RUN": "1", "PYTHON": str(python), "OUT_DIR": "/tmp/mupo_dry", "DATA_DIR": "/data/mupo", **env}
    for key in ("PRESET", "BENCHMARKS", "VAL_FILES", "MODE"):
        if key not in env:
            full_env.pop(key, None)
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / script), *extra], capture_output=True,
                         text=True, env=full_env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    argv_files = sorted(python.parent.glob("argv.*"), key=lambda p: int(p.suffix[1:]))
    configs = [compose(p.read_bytes().decode().split("\0")[:-1]) for p in argv_files]
    for p in argv_files:
        p.unlink()
    return out.stdout, configs


def _val_files(cfg) -> list[str]:
    return list(OmegaConf.select(cfg, "data.val_files"))


@pytest.fixture(scope="module")
def recipes(python):
    """``{script: (output, config)}`` of the four recipes with their defaults."""
    out = {}
    for script in ("mupo_3b.sh", "grpo_3b.sh", "mupo_7b.sh", "grpo_7b.sh"):
        text, (cfg,) = dry_run(python, script)
        out[script] = (text, cfg)
    return out


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_mupo_and_grpo_recipes_validate_and_differ_only_in_the_estimator(recipes, size):
    mupo, mupo_cfg = recipes[f"mupo_{size}.sh"]
    grpo, grpo_cfg = recipes[f"grpo_{size}.sh"]
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
    a, b = OmegaConf.to_container(mupo_cfg), OmegaConf.to_container(grpo_cfg)
    a["algorithm"].pop("adv_estimator"), b["algorithm"].pop("adv_estimator")
    a["algorithm"]["mupo"].pop("monitor_only"), b["algorithm"]["mupo"].pop("monitor_only")
    a["trainer"].pop("experiment_name"), b["trainer"].pop("experiment_name")
    for cfg in (a, b):  # the output folder is named after the algorithm
        for key in ("default_local_dir", "validation_data_dir"):
            cfg["trainer"][key] = cfg["trainer"][key].replace("grpo_", "mupo_")
    assert a == b  # the whole composed config, not only the printed keys


@pytest.mark.parametrize("script", ["mupo_3b.sh", "grpo_3b.sh", "mupo_7b.sh", "grpo_7b.sh"])
def test_default_validation_is_the_nine_benchmarks_of_the_readme(recipes, script):
    _, cfg = recipes[script]
    files = _val_files(cfg)
    assert len(files) == 9 == len(DEFAULT_BENCHMARKS)
    assert [Path(f).name for f in files] == [CATALOG[k].filename for k in DEFAULT_BENCHMARKS]
    assert {CATALOG[k].name for k in DEFAULT_BENCHMARKS} == {
        "MathVerse", "MathVista", "MathVision", "LogicVista", "WeMath", "Geometry3K", "MMStar", "HallusionBench", "MMVet"}
    assert all(f.startswith("/data/mupo/eval/") for f in files)
    assert not any("dynamath" in f.lower() for f in files)  # in neither the paper nor the authors' code
    v = cfg.actor_rollout_ref.rollout.val_kwargs
    assert (v.n, v.temperature, v.top_p) == (4, 1.0, 1.0)
    assert cfg.trainer.val_before_train and cfg.trainer.test_freq == 25 and "file" in list(cfg.trainer.logger)


def test_authors_settings_and_mmmu_are_documented_options(python):
    out, (cfg,) = dry_run(python, "mupo_7b.sh", PRESET="authors", BENCHMARKS="eval_script")
    assert "verl validate_config: ok" in out
    assert cfg.data.train_batch_size == 384 and cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 128
    assert cfg.actor_rollout_ref.actor.clip_ratio_high == 0.28 and cfg.actor_rollout_ref.actor.clip_ratio_low == 0.2
    assert cfg.algorithm.filter_groups.enable and cfg.algorithm.filter_groups.metric == "acc"
    assert cfg.actor_rollout_ref.rollout.top_p == 0.99
    names = [Path(f).name for f in _val_files(cfg)]
    assert "mmmu.parquet" in names and "geometry3k.parquet" not in names and len(names) == 9
    # our defaults, and one option alone
    _, (ours,) = dry_run(python, "grpo_7b.sh", CLIP_HIGH="0.3", BENCHMARKS="mathvista,mmstar")
    assert ours.data.train_batch_size == 128 and ours.actor_rollout_ref.actor.ppo_mini_batch_size == 64
    assert ours.actor_rollout_ref.actor.clip_ratio_high == 0.3 and not ours.algorithm.filter_groups.enable
    assert ours.actor_rollout_ref.rollout.top_p == 1.0
    assert [Path(f).name for f in _val_files(ours)] == ["mathvista.parquet", "mmstar.parquet"]


def test_eval_mode_runs_greedy_then_sampled_validation_only(python):
    out, (greedy, sampled) = dry_run(python, "eval.sh", "mupo", "3b", CKPT="/ckpt/global_step_300")
    assert out.count("verl validate_config: ok") == 2
    for cfg in (greedy, sampled):
        assert cfg.trainer.val_only and cfg.trainer.val_before_train
        assert cfg.trainer.resume_mode == "resume_path" and cfg.trainer.resume_from_path == "/ckpt/global_step_300"
        assert len(_val_files(cfg)) == 9
    g, s = greedy.actor_rollout_ref.rollout.val_kwargs, sampled.actor_rollout_ref.rollout.val_kwargs
    assert (g.n, g.temperature) == (1, 0) and (s.n, s.temperature) == (8, 1.0)
    assert greedy.trainer.validation_data_dir == "/tmp/mupo_dry/eval/greedy"
    assert sampled.trainer.validation_data_dir == "/tmp/mupo_dry/eval/sampled"


def test_eval_mode_refuses_to_overwrite_an_earlier_evaluation(python, tmp_path):
    # (before the doctor or verl start)
    (tmp_path / "eval" / "greedy").mkdir(parents=True)
    (tmp_path / "eval" / "greedy" / "300.jsonl").write_text("{}\n")
    env = {**os.environ, "PYTHON": str(python), "OUT_DIR": str(tmp_path)}
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / "eval.sh"), "mupo", "3b"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 2 and "OVERWRITE=1" in out.stderr and "eval/greedy" in out.stderr


@pytest.mark.parametrize("env,needle", [({"BENCHMARKS": "dynamath"}, "BENCHMARKS='dynamath'"),
                                        ({"PRESET": "fast"}, "PRESET must be"), ({"FILTER_GROUPS": "yes"}, "FILTER_GROUPS"),
                                        ({"ONLINE_FILTER": "1"}, "ONLINE_FILTER=1: renamed FILTER_GROUPS")])
def test_bad_recipe_options_name_the_variable(env, needle):
    full_env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, **env}
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / "mupo_3b.sh")], capture_output=True, text=True,
                         env=full_env, timeout=300)
    assert out.returncode == 2 and needle in out.stderr, out.stderr


def test_dry_run_reports_a_bad_setting():
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / "mupo_3b.sh"), "actor_rollout_ref.rollout.n=8"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0 and "actor_rollout_ref.rollout.n=8" in out.stderr
