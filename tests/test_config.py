"""Settings validation."""

import pytest
from omegaconf import OmegaConf

from verl_mupo import ConfigError, MupoConfig


def test_defaults_are_the_papers():
    c = MupoConfig()
    assert (c.num_groups, c.min_group_size, c.beta, c.lambda_max, c.lambda_min, c.lambda_schedule) == (3, 3, 1.0, 0.4, 0.1, "cosine")
    assert c.embedder.model == "Qwen/Qwen3-Embedding-0.6B"


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
        ({"lambda_min": 0.5}, "lambda_min"),
        ({"lambda_schedule": "linear"}, "lambda_schedule"),
        ({"format_weight": 0.7}, "lambda_max"),
        ({"reward_composition": "sum"}, "reward_composition"),
    ],
)
def test_bad_values_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=f"algorithm.mupo.{key}"):
        MupoConfig(**kw)


def test_hydra_config_group_parses():
    import importlib.resources as res

    for name in ("paper.yaml", "grpo_monitor.yaml"):
        text = (res.files("verl_mupo.hydra_config") / "mupo" / name).read_text()
        c = MupoConfig.from_mapping(OmegaConf.create(text))
        assert c.num_groups == 3 and c.monitor_only == (name == "grpo_monitor.yaml")
