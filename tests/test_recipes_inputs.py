"""Bad settings of the ViRL39K recipes stop them first, naming the variable and its range, in a real
run as in DRY_RUN=1; MODE=eval with OVERWRITE=1 replaces the earlier evaluation instead of adding to
it. No GPU: ``PYTHON`` is a stub that stands in for verl's trainer and the doctor (it writes a
validation dump as verl's v1 trainer lays it out) and hands every other call to the real Python."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_mupo.recipe_settings import RECIPE_SETTINGS, check_recipe, check_recipe_relations, check_recipe_setting
from verl_mupo.evaluation import Sampling, record_path, write_embeddings, write_record

ROOT = Path(__file__).resolve().parents[1]
RUN_SH = ROOT / "recipes" / "virl39k" / "run.sh"

# verl.trainer.main_ppo as far as the recipe sees it: one validation of 2 MMStar prompts into
# trainer.validation_data_dir, step $STUB_STEP, every answer $STUB_ACC; the hook's record beside it
STUB = r'''#!{python}
import json, os, sys
log = os.environ["STUB_LOG"]
with open(log, "a") as f:
    f.write(" ".join(sys.argv[1:3]) + "\n")
if sys.argv[1:3] == ["-m", "verl_mupo.doctor"]:
    sys.exit(0)
if sys.argv[1:3] == ["-m", "verl.trainer.main_ppo"]:
    args = dict(a.split("=", 1) for a in sys.argv[3:] if "=" in a)
    out = args["trainer.validation_data_dir"]
    n, temperature = int(args["actor_rollout_ref.rollout.val_kwargs.n"]), float(args["actor_rollout_ref.rollout.val_kwargs.temperature"])
    step, acc = int(os.environ["STUB_STEP"]), int(os.environ["STUB_ACC"])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{{step}}.jsonl"), "w") as f:
        for p in range(2):
            for s in range(n):
                f.write(json.dumps({{"input": "q", "output": "a", "score": acc, "acc": acc, "data_source": "MMStar",
                                    "uid": f"prompt-{{p}}_{{s}}_0", "step": step}}) + "\n")
    with open(os.path.join(out, f"{{step}}.val-mupo.json"), "w") as f:
        json.dump({{"step": step, "sampling": {{"n": n, "temperature": temperature}}, "metrics": {{}}}}, f)
    sys.exit(0)
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
'''


@pytest.fixture
def stub(tmp_path):
    path = tmp_path / "python"
    path.write_text(STUB.format(python=sys.executable))
    path.chmod(0o755)
    return path


def run_recipe(stub, out_dir, *args, script="eval.sh", **env):
    full = {**os.environ, "PYTHON": str(stub), "OUT_DIR": str(out_dir), "DATA_DIR": "/data/mupo",
            "STUB_LOG": str(stub.parent / "calls.log"), "STUB_STEP": "0", "STUB_ACC": "0", **env}
    for key in ("PRESET", "BENCHMARKS", "VAL_FILES", "MODE", "DRY_RUN", "OVERWRITE", "EVAL_N", "CKPT"):
        if key not in env:
            full.pop(key, None)
    out = subprocess.run(["bash", str(ROOT / "recipes" / "virl39k" / script), *args], capture_output=True, text=True,
                         env=full, timeout=600)
    log = stub.parent / "calls.log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return out, calls


def _earlier_evaluation(eval_dir: Path):
    """A complete evaluation of checkpoint step 300 (every answer right) in the recipe's layout."""
    for name, n, temperature in (("greedy", 1, 0.0), ("sampled", 8, 1.0)):
        d = eval_dir / name
        d.mkdir(parents=True)
        rows = [{"uid": f"old-{p}_{s}_0", "acc": 1, "data_source": "MMStar"} for p in range(3) for s in range(n)]
        (d / "300.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        write_record(d, 300, Sampling(n=n, temperature=temperature), {"val-mupo/MMStar/acc@1": 1.0})
        write_embeddings(d, 300, [[1.0, 0.0]] * len(rows), [r["uid"].split("_")[0] for r in rows],
                         ["MMStar"] * len(rows), [1.0] * len(rows))
        (d / "metrics.jsonl").write_text('{"step": 300}\n')
    (eval_dir / "acc.txt").write_text("the table of step 300\n")


# ---------------------------------------------------------------------------------------------- OVERWRITE


def test_overwrite_replaces_the_earlier_evaluation(stub, tmp_path):
    # evaluating the base model (step 0) after checkpoint 300: the stale 300.* files stayed, and the table
    # read the newest dump, 300, reporting 100% for a model that answered nothing right
    eval_dir = tmp_path / "run" / "eval"
    _earlier_evaluation(eval_dir)
    out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", OVERWRITE="1")
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("greedy", "sampled"):
        assert sorted(p.name for p in (eval_dir / name).iterdir()) == ["0.jsonl", "0.val-mupo.json"]
    table = (eval_dir / "acc.txt").read_text()
    assert "step 300" not in table and "acc@1(greedy)" in table and "acc@4(of 8)" in table
    assert [line.split() for line in table.splitlines() if line.startswith("MMStar")] == [
        ["MMStar", "0.00", "0.00", "0.00", "2", "1"]]
    assert "OVERWRITE=1: removed" in out.stderr
    assert calls.index("-m verl_mupo.doctor") < calls.index("-m verl.trainer.main_ppo")  # nothing removed before


def test_without_overwrite_an_earlier_evaluation_is_kept_and_refused(stub, tmp_path):
    eval_dir = tmp_path / "run" / "eval"
    _earlier_evaluation(eval_dir)
    before = sorted(p.relative_to(eval_dir) for p in eval_dir.rglob("*"))
    for env in ({}, {"OVERWRITE": "0"}):
        out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", **env)
        assert out.returncode == 2 and "OVERWRITE=1" in out.stderr, out.stderr
        assert "-m verl.trainer.main_ppo" not in calls and "-m verl_mupo.doctor" not in calls
    out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", OVERWRITE="1", DRY_RUN="1")  # a dry run removes nothing
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.relative_to(eval_dir) for p in eval_dir.rglob("*")) == before
    assert (eval_dir / "acc.txt").read_text() == "the table of step 300\n"


def test_a_missing_checkpoint_stops_before_the_earlier_evaluation_is_removed(stub, tmp_path):
    eval_dir = tmp_path / "run" / "eval"
    _earlier_evaluation(eval_dir)
    out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", OVERWRITE="1", CKPT=str(tmp_path / "global_step_9"))
    assert out.returncode == 2 and "CKPT=" in out.stderr and "global_step_9: no such folder" in out.stderr
    assert (eval_dir / "greedy" / "300.jsonl").exists() and (eval_dir / "acc.txt").exists()
    assert "-m verl_mupo.doctor" not in calls


def test_a_file_in_place_of_the_folder_is_refused_without_overwrite(stub, tmp_path):
    (tmp_path / "run" / "eval").mkdir(parents=True)
    (tmp_path / "run" / "eval" / "sampled").write_text("not a folder")
    out, _ = run_recipe(stub, tmp_path / "run", "mupo", "3b")
    assert out.returncode == 2 and "eval/sampled" in out.stderr


@pytest.mark.parametrize("eval_n,columns", [("2", ["acc@1(greedy)", "acc@1(mean", "of", "2)", "acc@2(of", "2)"]),
                                            ("1", ["acc@1(greedy)", "acc@1(mean", "of", "1)"])])
def test_eval_n_below_4_reports_acc_at_eval_n(stub, tmp_path, eval_n, columns):
    # '-k 1 4' over a sampled dump of 2 samples failed after both verl passes
    out, _ = run_recipe(stub, tmp_path / "run", "mupo", "3b", EVAL_N=eval_n, STUB_ACC="1")
    assert out.returncode == 0, out.stderr[-3000:]
    head = (tmp_path / "run" / "eval" / "acc.txt").read_text().splitlines()[0].split()
    assert head == ["benchmark", *columns, "prompts", "n"]


# ---------------------------------------------------------------------------------------------- ranges

BAD = [("TOP_P", "2"), ("TOP_P", "0"), ("TOP_P", "-0.5"), ("TOP_P", "nan"), ("VAL_N", "0"), ("VAL_N", "2.0"),
       ("EVAL_N", "-1"), ("EVAL_N", "+8"), ("CLIP_HIGH", "-1"), ("CLIP_HIGH", "0"), ("CLIP_HIGH", "inf"),
       ("TEST_FREQ", "abc"), ("TEST_FREQ", "-2"), ("TEST_FREQ", "2.5"), ("VAL_TEMPERATURE", "-1"),
       ("VAL_TEMPERATURE", "warm"), ("TRAIN_BATCH", "abc"), ("TRAIN_BATCH", "0"), ("TRAIN_BATCH", "007"),
       ("MINI_BATCH", "1e2"), ("N_GPUS", "0"), ("N_GPUS", "1_0"), ("NNODES", "0"), ("NNODES", "true"),
       ("FILTER_GROUPS", "yes"), ("FILTER_GROUPS", "2"), ("DRY_RUN", "true"), ("OVERWRITE", "yes"), ("TOP_P", "")]
GOOD = [("TOP_P", "1"), ("TOP_P", "0.99"), ("TOP_P", ".5"), ("TOP_P", "1e-3"), ("VAL_N", "1"), ("EVAL_N", "16"),
        ("CLIP_HIGH", "0.28"), ("TEST_FREQ", "-1"), ("TEST_FREQ", "0"), ("TEST_FREQ", "25"), ("VAL_TEMPERATURE", "0"),
        ("VAL_TEMPERATURE", "0.6"), ("TRAIN_BATCH", "384"), ("MINI_BATCH", "128"), ("N_GPUS", "8"), ("NNODES", "2"),
        ("FILTER_GROUPS", "0"), ("FILTER_GROUPS", "1"), ("DRY_RUN", "1"), ("OVERWRITE", "0")]


@pytest.mark.parametrize("name,value", BAD)
def test_a_setting_out_of_range_names_the_variable_and_its_range(name, value):
    error = check_recipe_setting(name, value)
    spec = RECIPE_SETTINGS[name]
    assert error == f"run.sh: {name}={value}: must be {spec.rule} ({spec.key})"


@pytest.mark.parametrize("name,value", GOOD)
def test_a_setting_in_range_passes(name, value):
    assert check_recipe_setting(name, value) is None


def test_every_numeric_setting_of_the_header_has_a_range():
    header = RUN_SH.read_text().split("set -euo pipefail")[0]
    numeric = ["TRAIN_BATCH", "MINI_BATCH", "CLIP_HIGH", "TOP_P", "FILTER_GROUPS", "TEST_FREQ", "VAL_N",
               "VAL_TEMPERATURE", "EVAL_N", "N_GPUS", "NNODES", "OVERWRITE", "DRY_RUN"]
    assert all(name in header for name in numeric) and set(RECIPE_SETTINGS) == set(numeric)
    assert check_recipe(["LR=1e-6"]) == 2  # not a setting of run.sh: the check refuses to pass it silently
    assert check_recipe_relations({"LR": "1"}) == []


def test_the_renamed_online_filter_is_refused_naming_its_new_name_and_mupos_own_filter(stub, tmp_path):
    from verl_mupo.recipe_settings import RENAMED

    assert RENAMED["ONLINE_FILTER"][0] == "FILTER_GROUPS" and "FILTER_GROUPS" in RECIPE_SETTINGS
    out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", script="run.sh", ONLINE_FILTER="0")
    assert out.returncode == 2 and calls == ["-m verl_mupo.recipe_settings"]
    assert "ONLINE_FILTER=0: renamed FILTER_GROUPS" in out.stderr and "algorithm.mupo.online_filtering" in out.stderr
    out, _ = run_recipe(stub, tmp_path / "run2", "mupo", "3b", script="run.sh", FILTER_GROUPS="2")
    assert out.returncode == 2 and f"run.sh: FILTER_GROUPS=2: must be {RECIPE_SETTINGS['FILTER_GROUPS'].rule}" in out.stderr


def test_the_recipe_checks_before_any_other_work_in_a_real_run(stub, tmp_path):
    env = {"TOP_P": "2", "VAL_N": "0", "CLIP_HIGH": "-1", "TEST_FREQ": "abc", "VAL_TEMPERATURE": "-1", "N_GPUS": "0"}
    out, calls = run_recipe(stub, tmp_path / "run", "mupo", "3b", script="run.sh", **env)
    assert out.returncode == 2
    for name, value in env.items():
        assert f"run.sh: {name}={value}: must be {RECIPE_SETTINGS[name].rule}" in out.stderr
    assert calls == ["-m verl_mupo.recipe_settings"]  # the check only: no catalog, doctor or verl
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("script,env", [("mupo_7b.sh", {"TOP_P": "0", "DRY_RUN": "1"}),
                                        ("eval.sh", {"EVAL_N": "-1", "DRY_RUN": "1"}),
                                        ("grpo_3b.sh", {"DRY_RUN": "yes"})])
def test_dry_run_stops_on_a_bad_setting(stub, tmp_path, script, env):
    args = () if script != "eval.sh" else ("mupo", "3b")
    out, calls = run_recipe(stub, tmp_path / "run", *args, script=script, **env)
    name, value = next((k, v) for k, v in env.items() if k != "DRY_RUN" or len(env) == 1)
    assert out.returncode == 2 and f"run.sh: {name}={value}: must be" in out.stderr, out.stderr
    assert calls == ["-m verl_mupo.recipe_settings"]


# ---- issue 20: settings checked against each other


def test_mini_batch_above_train_batch_is_refused_by_the_recipes_own_check():
    assert check_recipe_relations({"TRAIN_BATCH": "128", "MINI_BATCH": "128"}) == []
    (error,) = check_recipe_relations({"TRAIN_BATCH": "128", "MINI_BATCH": "256"})
    assert error.startswith("run.sh: MINI_BATCH=256 with TRAIN_BATCH=128: MINI_BATCH (prompts per PPO update, "
                            "actor_rollout_ref.actor.ppo_mini_batch_size) must be at most TRAIN_BATCH")
    # a setting out of its own range is named once, by its own error, not again as a pair
    assert check_recipe_relations({"TRAIN_BATCH": "0", "MINI_BATCH": "256"}) == []


@pytest.mark.parametrize("script", ["mupo_3b.sh", "run.sh"])
def test_mini_batch_above_train_batch_stops_the_recipe_before_verl(stub, tmp_path, script):
    """It surfaced only as a verl traceback after an 18 s compose, in DRY_RUN=1 as in a real run."""
    args = ("mupo", "3b") if script == "run.sh" else ()
    env = {"MINI_BATCH": "256", "TRAIN_BATCH": "128"} | ({"DRY_RUN": "1"} if script != "run.sh" else {})
    out, calls = run_recipe(stub, tmp_path / "run", *args, script=script, **env)
    assert out.returncode == 2 and "run.sh: MINI_BATCH=256 with TRAIN_BATCH=128: " in out.stderr, out.stderr
    assert calls == ["-m verl_mupo.recipe_settings"] and "Traceback" not in out.stderr
