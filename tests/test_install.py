"""The README's install grades: the wheel without extras brings everything the default reward path
(``pkg://verl_mupo.scoring``) needs, and a broken grader install stops before training.

``test_wheel_without_extras_grades_a_symbolic_answer`` builds the wheel, installs it into a fresh
venv with no extra (pip resolves verl, torch... from the package index, about 3 min and 6 GB on 2
cores: the constraint file pins the torch pair as CI does) and grades answers that only
math-verify decides."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout (setuptools writes build/ into its source tree)."""
    src, out = tmp_path_factory.mktemp("src") / "verl-mupo", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info",
                                                            ".verl_sdist", "__pycache__", ".pytest_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)], check=True,
                   capture_output=True, timeout=600)
    return next(out.glob("verl_mupo-*.whl"))


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return [line.split(":", 1)[1].strip() for line in z.read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]


def test_the_grader_is_a_core_dependency_and_mathruler_only_a_test_one(wheel):
    reqs = _requirements(wheel)
    core = [r for r in reqs if "extra ==" not in r]
    assert any(r.startswith("math-verify") for r in core), core
    assert not any(r.startswith("mathruler") for r in core)
    assert [r for r in reqs if r.startswith("mathruler")] == ['mathruler>=0.1; extra == "test"']


def test_a_missing_grader_stops_at_start_up_and_in_the_doctor(monkeypatch):
    from hydra import compose, initialize_config_module

    import verl  # noqa: F401  plugin discovery
    from verl_mupo.config import ConfigError
    from verl_mupo.doctor import run_checks
    from verl_mupo.glue.config_checks import check_mupo_config

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        plain = compose(config_name="ppo_trainer", overrides=[
            "reward.custom_reward_function.path=pkg://verl_mupo.scoring",
            "reward.custom_reward_function.name=compute_score"])
    assert check_mupo_config(plain) is None  # installed: passes
    monkeypatch.setitem(sys.modules, "math_verify", None)  # `import math_verify` now fails
    with pytest.raises(ConfigError, match=r"reward\.custom_reward_function\.path=verl_mupo\.scoring: .*pip install "
                                          r"'math-verify>=0\.7'"):
        check_mupo_config(plain)
    row = next(r for r in run_checks() if r[0].startswith("grader"))
    assert row[1] is False and "pip install" in row[2]


@pytest.mark.slow
def test_wheel_without_extras_grades_a_symbolic_answer(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints" / "torch.txt"),
                              str(wheel)], capture_output=True, text=True, timeout=1500)
    assert install.returncode == 0, install.stderr[-3000:]
    script = (
        "import json\n"
        "from verl_mupo.scoring import compute_score\n"
        "from verl_mupo.glue.reward_deps import grader_problem\n"
        "cases = [(r'\\boxed{\\sin^2 x + \\cos^2 x}', '1'), (r'\\boxed{\\frac{\\sqrt{2}}{2}}', r'\\frac{1}{\\sqrt{2}}'),\n"
        "         (r'\\boxed{\\sin x}', '1')]\n"
        "print(json.dumps({'problem': grader_problem(),\n"
        "                  'acc': [compute_score('math', s, gt)['acc'] for s, gt in cases]}))\n")
    proc = subprocess.run([str(py), "-c", script], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"problem": None, "acc": [1.0, 1.0, 0.0]}
