"""verl-mupo: Multi-group Policy Optimization (MUPO) for verl.

The public math API needs no verl import::

    from verl_mupo import constrained_partition, compute_mupo_advantages, diversity_bonus, diversity_weight

Inputs may be numpy arrays or torch tensors; results come back as the same kind. The settings
(``MupoConfig``) take their defaults from ``verl_mupo/hydra_config/mupo/paper.yaml``. For a whole
verl ``DataProto`` see :func:`verl_mupo.batch.compute_mupo_batch_rewards`.

Installing the package registers ``algorithm.adv_estimator=mupo`` and
``reward.reward_manager.name=mupo`` in verl through its ``verl.plugins`` entry point
(``verl_mupo.verl_plugin``).
"""

import importlib

#: public name -> the module that defines it. Imported on first use (PEP 562), so that
#: ``import verl_mupo.scoring`` (verl's reward workers) or ``verl_mupo.glue.versions`` does not load
#: torch and the algorithm.
_EXPORTS = {
    "compute_mupo_advantages": "verl_mupo.advantages",
    "load_balance_weights": "verl_mupo.advantages",
    "ConfigError": "verl_mupo.config",
    "EmbedderConfig": "verl_mupo.config",
    "MupoConfig": "verl_mupo.config",
    "diversity_bonus": "verl_mupo.diversity",
    "diversity_weight": "verl_mupo.diversity",
    "mean_pairwise_distance": "verl_mupo.diversity",
    "GroupStageResult": "verl_mupo.group_stage",
    "run_group_stage": "verl_mupo.group_stage",
    "constrained_partition": "verl_mupo.partition",
    "effective_num_groups": "verl_mupo.partition",
    "partition_inertia": "verl_mupo.partition",
    "has_valid_format": "verl_mupo.text",
    "reasoning_span": "verl_mupo.text",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'verl_mupo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "constrained_partition",
    "compute_mupo_advantages",
    "diversity_bonus",
    "diversity_weight",
    "load_balance_weights",
    "mean_pairwise_distance",
    "effective_num_groups",
    "partition_inertia",
    "run_group_stage",
    "GroupStageResult",
    "MupoConfig",
    "EmbedderConfig",
    "ConfigError",
    "reasoning_span",
    "has_valid_format",
]
