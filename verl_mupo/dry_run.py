"""Compose a recipe's full verl config without a GPU, validate it, and print the MUPO settings.

    python -m verl_mupo.dry_run <hydra overrides...>

Does what ``python -m verl.trainer.main_ppo`` does before it starts Ray: composes verl's
``ppo_trainer`` config with the overrides, runs verl's ``validate_config`` (which includes MUPO's
start-up checks once the plugin is loaded), then runs the plugin's doctor. Exit code 0 when the
recipe would start. The MUPO settings are printed as the run will use them, with
``embedder.placement: auto`` resolved (``service`` on a GPU trainer, ``in_process`` on CPU), or a
line saying MUPO is off. An ``algorithm.mupo`` block that MUPO would ignore (``monitor_only: false``
with an estimator other than ``mupo``) fails validation.

    python -m verl_mupo.dry_run --check-recipe NAME=VALUE ...

checks the numeric settings of ``recipes/virl39k/run.sh`` (:data:`RECIPE_SETTINGS`, the one home of
their ranges) before the recipe does anything else, in a real run as in ``DRY_RUN=1``: every bad one
is a line ``run.sh: NAME=VALUE: must be ... (the verl key)`` on stderr, exit code 2. A value is read
as verl will read it, by Hydra's override parser (``nan`` is a float there, ``007`` a text); an
integer in its plain spelling (``1_000``, ``+8`` are refused).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

from omegaconf import OmegaConf


class RecipeSetting(NamedTuple):
    """A numeric setting of ``run.sh``: ``kind`` ``int`` or ``float``; ``low`` / ``high`` the bounds
    (``None``: none), ``low_open`` whether ``low`` itself is refused; ``rule`` the range in words,
    ``key`` the verl setting it becomes."""

    kind: str
    low: float | None
    high: float | None
    low_open: bool
    rule: str
    key: str


#: run.sh's numeric environment settings and their ranges (the recipe passes each value, its default
#: included, to ``--check-recipe`` before any other work)
RECIPE_SETTINGS: dict[str, RecipeSetting] = {
    "TRAIN_BATCH": RecipeSetting("int", 1, None, False, "an integer >= 1", "data.train_batch_size"),
    "MINI_BATCH": RecipeSetting("int", 1, None, False, "an integer >= 1", "actor_rollout_ref.actor.ppo_mini_batch_size"),
    "CLIP_HIGH": RecipeSetting("float", 0, None, True, "a finite number > 0", "actor_rollout_ref.actor.clip_ratio_high"),
    "TOP_P": RecipeSetting("float", 0, 1, True, "a number in (0, 1]", "actor_rollout_ref.rollout.top_p"),
    "TEST_FREQ": RecipeSetting("int", -1, None, False, "an integer >= -1 (-1 or 0: validate only before training)",
                               "trainer.test_freq"),
    "VAL_N": RecipeSetting("int", 1, None, False, "an integer >= 1", "actor_rollout_ref.rollout.val_kwargs.n"),
    "VAL_TEMPERATURE": RecipeSetting("float", 0, None, False, "a finite number >= 0 (0: greedy)",
                                     "actor_rollout_ref.rollout.val_kwargs.temperature"),
    "EVAL_N": RecipeSetting("int", 1, None, False, "an integer >= 1",
                            "actor_rollout_ref.rollout.val_kwargs.n of MODE=eval's sampled pass"),
    "N_GPUS": RecipeSetting("int", 1, None, False, "an integer >= 1", "trainer.n_gpus_per_node"),
    "NNODES": RecipeSetting("int", 1, None, False, "an integer >= 1", "trainer.nnodes"),
    "ONLINE_FILTER": RecipeSetting("int", 0, 1, False, "0 or 1", "algorithm.filter_groups.enable"),
    "DRY_RUN": RecipeSetting("int", 0, 1, False, "0 or 1 (1: compose and validate only)", "run.sh"),
    "OVERWRITE": RecipeSetting("int", 0, 1, False, "0 or 1 (1: replace an earlier MODE=eval evaluation)", "run.sh"),
}


def check_recipe_setting(name: str, value: str) -> str | None:
    """``None`` if ``value`` is in the range of :data:`RECIPE_SETTINGS` ``[name]``, else the error line.

    The value is parsed by Hydra's override parser, as verl's command line will parse it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    spec = RECIPE_SETTINGS[name]
    try:
        parsed = OverridesParser.create().parse_override(f"value={value}").value()
    except Exception:  # noqa: BLE001  Hydra's grammar refuses it: not a number either
        parsed = None
    if spec.kind == "int":  # in its plain spelling (no 1_0, +8 or spaces): run.sh also does arithmetic on it
        number = type(parsed) is int and str(parsed) == value
    else:
        number = type(parsed) in (int, float) and math.isfinite(parsed)
    ok = number and (spec.low is None or (parsed > spec.low if spec.low_open else parsed >= spec.low)) and (
        spec.high is None or parsed <= spec.high)
    return None if ok else f"run.sh: {name}={value}: must be {spec.rule} ({spec.key})"


def check_recipe(assignments: list[str]) -> int:
    """``--check-recipe NAME=VALUE ...``: print every bad setting to stderr; exit code 2 if any."""
    errors = []
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or name not in RECIPE_SETTINGS:
            errors.append(f"run.sh: --check-recipe {item!r}: not NAME=VALUE of {sorted(RECIPE_SETTINGS)}")
            continue
        error = check_recipe_setting(name, value)
        if error:
            errors.append(error)
    for error in errors:
        print(error, file=sys.stderr)
    return 2 if errors else 0


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=list(overrides))


def main(argv=None) -> int:
    overrides = list(sys.argv[1:] if argv is None else argv)
    if overrides[:1] in (["--help"], ["-h"]):
        print(__doc__.strip())
        return 0
    bad = [o for o in overrides if o.startswith("-") and o != "--check-recipe"]
    if bad or "--check-recipe" in overrides[1:]:
        print(f"verl_mupo.dry_run: {(bad or ['--check-recipe'])[0]}: not an option; give Hydra overrides "
              "(key=value), or --check-recipe NAME=VALUE ... first (see --help)", file=sys.stderr)
        return 2
    if overrides[:1] == ["--check-recipe"]:
        return check_recipe(overrides[1:])
    import verl  # noqa: F401  plugin discovery
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_mupo.config import ConfigError, run_settings
    from verl_mupo.doctor import main as doctor

    cfg = compose(overrides)
    try:
        validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except ConfigError as e:  # a MUPO setting: one line naming it, as the run would stop
        print(f"verl_mupo.dry_run: {e}", file=sys.stderr)
        return 2
    print("verl validate_config: ok")
    algo = cfg.algorithm
    print(f"adv_estimator: {algo.adv_estimator}")
    settings = run_settings(cfg)  # as the run resolves them (placement, and the device of an in-process embedder)
    if settings is None:
        print("MUPO: off (algorithm.adv_estimator is not mupo and algorithm.mupo is not set): verl's own "
              f"{algo.adv_estimator}, no mupo/* metrics")
    else:
        print("algorithm.mupo (embedder.placement resolved):")
        print(OmegaConf.to_yaml(OmegaConf.create(settings.to_dict())).rstrip().replace("\n", "\n  ").join(["  ", ""]))
    sel = lambda key: OmegaConf.select(cfg, key)  # noqa: E731
    for key in ("actor_rollout_ref.model.path", "actor_rollout_ref.rollout.name", "actor_rollout_ref.rollout.n",
                "actor_rollout_ref.rollout.temperature", "actor_rollout_ref.actor.optim.lr", "trainer.total_epochs",
                "data.train_batch_size", "trainer.n_gpus_per_node", "trainer.nnodes", "reward.reward_manager.name",
                "actor_rollout_ref.rollout.val_kwargs.n", "trainer.validation_data_dir"):
        print(f"{key}: {sel(key)}")
    return doctor([])


if __name__ == "__main__":
    raise SystemExit(main())
