"""``from verl_mupo.batch import compute_mupo_batch_rewards`` (see :mod:`verl_mupo.glue.batch`)."""

from verl_mupo.glue.batch import compute_mupo_batch_rewards

__all__ = ["compute_mupo_batch_rewards"]
