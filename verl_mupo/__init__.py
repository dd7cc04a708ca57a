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

from verl_mupo.advantages import compute_mupo_advantages, load_balance_weights
from verl_mupo.config import ConfigError, EmbedderConfig, MupoConfig
from verl_mupo.diversity import diversity_bonus, diversity_weight, mean_pairwise_distance
from verl_mupo.group_stage import GroupStageResult, run_group_stage
from verl_mupo.partition import constrained_partition, effective_num_groups, partition_inertia
from verl_mupo.text import has_valid_format, reasoning_span

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
