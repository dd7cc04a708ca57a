"""One home for each fact: the facts the issue found written in several places are read from one
module, and the copies that must stay (``pyproject.toml``, the docs) agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import verl_mupo

PACKAGE = Path(verl_mupo.__file__).parent
ROOT = PACKAGE.parent


def _sources(exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """relative path -> text of every module of the package, but those under ``exclude``."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith(exclude):
            out[rel] = path.read_text()
    return out


def test_the_supported_verl_range_is_written_once():
    from verl_mupo.glue.versions import KNOWN_VERL, KNOWN_VERL_TEXT

    assert KNOWN_VERL == ((0, 9, 1), (0, 10, 0)) and KNOWN_VERL_TEXT == "verl>=0.9.1,<0.10"
    written = {rel for rel, text in _sources().items()
               if re.search(r"\(0, ?10, ?0\)|>=0\.9\.1,<0\.10", text)}
    assert written == {"glue/versions.py"}, written


def test_pyproject_requires_the_supported_verl_range():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pins = re.findall(r'"verl(?:\[[^\]]*\])?([<>=!~][^"]*)"', pyproject)
    from verl_mupo.glue.versions import KNOWN_VERL_TEXT

    assert pins == [KNOWN_VERL_TEXT.removeprefix("verl")], (pins, "edit KNOWN_VERL in verl_mupo/glue/versions.py "
                                                            "and the verl requirement in pyproject.toml together")


def test_the_mrope_fix_and_the_storage_adapter_use_the_guards_range():
    from verl_mupo.glue import mrope_fix, storage, versions

    assert mrope_fix.BUGGY_VERL is versions.KNOWN_VERL and storage.KNOWN_VERL is versions.KNOWN_VERL
    from verl_mupo.cpu import vllm_compat

    assert vllm_compat.SUPPORTED_SERIES["verl"] == "0.9."  # derived from KNOWN_VERL, not written
    assert not re.search(r'"0\.9\.', (PACKAGE / "cpu" / "vllm_compat.py").read_text())


def test_config_reads_only_algorithm_mupo_and_run_config_reads_verls_schema():
    import verl_mupo.config as config
    from verl_mupo.glue import run_config

    text = Path(config.__file__).read_text()
    for verl_key in ("adv_estimator\"", "\"trainer\"", "n_gpus_per_node", "nnodes", "def run_settings", "def mupo_mode"):
        assert verl_key not in text, f"verl_mupo/config.py reads verl's schema ({verl_key}); that belongs in glue/run_config.py"
    assert not {"mupo_mode", "run_settings", "resolve_placement", "trainer_has_gpus"} & set(config.__all__)
    assert run_config.mupo_mode({"adv_estimator": "mupo"}) == "mupo"
    assert run_config.trainer_has_gpus({"trainer": {"device": "cuda", "n_gpus_per_node": 1, "nnodes": 1}})


def test_the_acc_at_k_estimator_knows_nothing_of_verl():
    import ast

    from verl_mupo.evaluation import estimator

    tree = ast.parse(Path(estimator.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.split(".")[0] == "verl" or m.startswith("verl_mupo.glue")
                or m.startswith("verl_mupo.evaluation.")}, imported
    assert estimator.acc_at_k(4, 1, 4) == 1.0 and estimator.acc_at_k(4, 1, 1) == 0.25


def test_the_algorithms_default_arguments_are_the_paper_yaml_values():
    import inspect

    import yaml

    from verl_mupo.advantages import compute_mupo_advantages, load_balance_weights
    from verl_mupo.diversity import diversity_weight
    from verl_mupo.embedding import SentenceTransformerEmbedder
    from verl_mupo.partition import constrained_partition

    paper = yaml.safe_load((PACKAGE / "hydra_config" / "mupo" / "paper.yaml").read_text())
    paper.pop("defaults", None)
    expected = {
        constrained_partition: {"num_groups": "num_groups", "min_group_size": "min_group_size", "seed": "seed",
                                "n_init": "n_init", "max_iter": "max_iter"},
        diversity_weight: {"lambda_max": "lambda_max", "lambda_min": "lambda_min", "schedule": "lambda_schedule",
                           "decay_rate": "lambda_decay_rate"},
        load_balance_weights: {"beta": "beta"},
        compute_mupo_advantages: {"beta": "beta"},
    }
    for fn, params in expected.items():
        sig = inspect.signature(fn).parameters
        for param, key in params.items():
            assert sig[param].default == paper[key], (fn.__name__, param, key)
    sig = inspect.signature(SentenceTransformerEmbedder.__init__).parameters
    for param in ("model", "batch_size", "max_length", "device", "dtype"):
        assert sig[param].default == paper["embedder"][param], param
    # no numeric literal left as a default where paper.yaml has the value
    for module in ("partition.py", "diversity.py", "advantages.py"):
        text = (PACKAGE / module).read_text()
        assert not re.search(r"(num_groups|min_group_size|beta|lambda_max|lambda_min|n_init|max_iter): \w+ = [0-9]", text), module


#: the one module that writes metric names as literals
_METRIC_LITERALS_ALLOWED = {"metric_names.py"}


def test_metric_names_are_written_only_in_metric_names():
    literal = re.compile(r"""f?["'](val-)?mupo/[a-z{]""")
    written = {rel for rel, text in _sources(exclude=("grading/",)).items()
               if any(literal.search(line) for line in text.splitlines() if not line.lstrip().startswith("#"))}
    assert written <= _METRIC_LITERALS_ALLOWED, written - _METRIC_LITERALS_ALLOWED


def test_the_group_stage_logs_only_names_of_metric_names():
    import numpy as np

    from verl_mupo import metric_names as M
    from verl_mupo.config import MupoConfig
    from verl_mupo.group_stage import run_group_stage

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    index = np.repeat(np.arange(2), 6)
    acc = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0], dtype=np.float32)
    metrics = run_group_stage(emb, index, acc, MupoConfig(num_groups=2, min_group_size=2, online_filtering=True),
                              0.3).metrics
    known = {v for k, v in vars(M).items() if k.isupper() and isinstance(v, str) and v.startswith("mupo/")}
    assert set(metrics) <= known and M.FRAC_FILTERED in metrics and M.LAMBDA in metrics, set(metrics) - known
    assert M.val_acc("MMStar", 4) == "val-mupo/MMStar/acc@4" and M.val_acc("MMStar", 1, greedy=True).endswith("acc@1_greedy")


def test_one_number_validator():
    import numpy as np
    import pytest

    from verl_mupo._arrays import check_integer, is_integer, is_number
    from verl_mupo.config import ConfigError, MupoConfig
    from verl_mupo.evaluation import EvaluationError, Sampling

    # only _arrays.py tests for "a number" itself (the grader is another owner's; safe_io formats
    # numbers as text, it checks none)
    own = {rel for rel, text in _sources(exclude=("grading/",)).items() if re.search(r"numbers\.(Real|Integral)", text)}
    assert own == {"_arrays.py", "data/safe_io.py"}, own
    cases = [(3, True), (np.int64(3), True), (3.0, True), (np.float32(3.0), True), (3.5, False), (True, False),
             (np.bool_(True), False), ("3", False), (float("nan"), False), (None, False)]
    for value, integer in cases:
        assert is_integer(value) is integer, value
        config_ok = True
        try:
            MupoConfig(num_groups=value)
        except ConfigError:
            config_ok = False
        try:
            check_integer("num_groups", value)
            partition_ok = True
        except ValueError:
            partition_ok = False
        assert config_ok == partition_ok == integer, (value, config_ok, partition_ok)
    assert is_number(np.float32(0.5)) and not is_number(True) and not is_number("1.0") and is_number(float("inf"))
    for bad in (True, "4", 4.5):
        with pytest.raises(EvaluationError, match="sampling n="):
            Sampling(n=bad, temperature=1.0)
    with pytest.raises(EvaluationError, match="temperature"):
        Sampling(n=4, temperature=float("inf"))


def test_the_option_letters_are_written_once():
    from verl_mupo.data import benchmarks, rows
    from verl_mupo.grading import choices

    written = {rel for rel, text in _sources().items() if "ABCDEFGHIJ" in text or ("[A-J]" in text and rel.startswith("data/"))}
    assert written == {"grading/choices.py"}, written
    assert benchmarks.LETTERS is choices.LETTERS
    assert rows.answer_type_of("J") == "choice" and rows.answer_type_of("K") == "text"
