"""Compose a recipe's full verl config without a GPU, validate it, and print the MUPO settings.

    python -m verl_mupo.dry_run <hydra overrides...>

Does what ``python -m verl.trainer.main_ppo`` does before it starts Ray: composes verl's
``ppo_trainer`` config with the overrides, runs verl's ``validate_config`` (which includes MUPO's
start-up checks once the plugin is loaded), then runs the plugin's doctor. Exit code 0 when the
recipe would start. The MUPO settings are printed as the run will use them, with
``embedder.placement: auto`` resolved (``service`` on a GPU trainer, ``in_process`` on CPU), or a
line saying MUPO is off. An ``algorithm.mupo`` block that MUPO would ignore (``monitor_only: false``
with an estimator other than ``mupo``) fails validation.

The recipes' own settings are checked before this, by :mod:`verl_mupo.recipe_settings`.
"""

from __future__ import annotations

import sys

from omegaconf import OmegaConf


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
    bad = [o for o in overrides if o.startswith("-")]
    if bad:
        print(f"verl_mupo.dry_run: {bad[0]}: not an option; give Hydra overrides (key=value), see --help",
              file=sys.stderr)
        return 2
    import verl  # noqa: F401  plugin discovery
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_mupo.config import ConfigError
    from verl_mupo.glue.run_config import run_settings
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
