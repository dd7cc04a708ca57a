"""The names MUPO logs through verl's tracking: one home for the producers (the group stage, the
trainer hook, the estimator, the validation hook) and the consumers (the report, the evaluation, the
CPU smoke's summary). Pure strings, no imports.

- training, every step: ``mupo/<name>`` (:data:`TRAIN_PREFIX`), the constants below;
- validation: ``val-mupo/<benchmark>/acc@<k>`` (:func:`val_acc`; ``acc@1_greedy`` when greedy),
  ``val-mupo/<benchmark>/pairwise_distance`` and ``val-mupo/pairwise_distance``
  (:func:`val_pairwise_distance`), ``val-mupo/time_embed_s``.
"""

from __future__ import annotations

TRAIN_PREFIX = "mupo"
VAL_PREFIX = "val-mupo"


def train(name: str) -> str:
    """``mupo/<name>``."""
    return f"{TRAIN_PREFIX}/{name}"


# ---- the group stage (verl_mupo.group_stage), every training step
LAMBDA = train("lambda")
ACC_MEAN = train("acc_mean")
DIVERSITY_BONUS_MEAN = train("diversity_bonus_mean")
DIVERSITY_REWARD_MEAN = train("diversity_reward_mean")
SCORE_DELTA_MEAN = train("score_delta_mean")
PAIRWISE_DISTANCE_MEAN = train("pairwise_distance_mean")
GROUP_SIZE_MIN = train("group_size_min")
GROUP_SIZE_MEAN = train("group_size_mean")
GROUP_SIZE_MAX = train("group_size_max")
NUM_GROUPS_MEAN = train("num_groups_mean")
FRAC_PROMPTS_REDUCED_K = train("frac_prompts_reduced_k")
LOAD_WEIGHT_MAX = train("load_weight_max")
FRAC_ALL_CORRECT = train("frac_all_correct")
FRAC_ALL_WRONG = train("frac_all_wrong")
FRAC_FILTERED = train("frac_filtered")  # only with algorithm.mupo.online_filtering
TIME_EMBED_S = train("time_embed_s")
TIME_CLUSTER_S = train("time_cluster_s")
TIME_DIVERSITY_S = train("time_diversity_s")
# ---- the trainer hook (verl_mupo.glue.group_step) and the estimator (verl_mupo.glue.estimator)
GLOBAL_STEP = train("global_step")
EMBEDDER_ACTORS = train("embedder_actors")  # embedder placement service only
EMBEDDER_RESTARTS = train("embedder_restarts")
ALL_CORRECT_ADV_ABS_MEAN = train("all_correct_adv_abs_mean")

#: acc@1 of a greedy validation (temperature 0), in place of ``acc@1``
ACC1_GREEDY = "acc@1_greedy"


def acc_name(k: int, greedy: bool = False) -> str:
    """``acc@<k>``, or :data:`ACC1_GREEDY` for ``k == 1`` when ``greedy``."""
    return ACC1_GREEDY if greedy and k == 1 else f"acc@{int(k)}"


def val(name: str, benchmark: str | None = None, prefix: str = VAL_PREFIX) -> str:
    """``val-mupo/<name>``, or ``val-mupo/<benchmark>/<name>``."""
    return f"{prefix}/{name}" if benchmark is None else f"{prefix}/{benchmark}/{name}"


def val_acc(benchmark: str, k: int, greedy: bool = False, prefix: str = VAL_PREFIX) -> str:
    """``val-mupo/<benchmark>/acc@<k>`` (``acc@1_greedy`` for a greedy acc@1)."""
    return val(acc_name(k, greedy), benchmark, prefix)


def val_pairwise_distance(benchmark: str | None = None) -> str:
    """``val-mupo/<benchmark>/pairwise_distance``, or ``val-mupo/pairwise_distance`` over all."""
    return val("pairwise_distance", benchmark)


VAL_TIME_EMBED_S = val("time_embed_s")
