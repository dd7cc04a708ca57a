"""Start-up checks of a verl config that runs MUPO; called from verl's ``validate_config`` (wrapped
by the plugin), so a bad setting stops the run in the driver, before Ray starts."""

from __future__ import annotations

import importlib.util
import logging

from omegaconf import OmegaConf

from verl_mupo.config import ConfigError, MupoConfig
from verl_mupo.glue.run_config import mupo_mode, run_settings
from verl_mupo.glue.reward_deps import SCORER_MODULE, grader_problem, uses_project_scorer
from verl_mupo.glue.scope import requested

logger = logging.getLogger(__name__)

SUPPORTED_TRAINER_MODES = ("sync", "colocate_async", "separate_async")


def check_estimator(config) -> None:
    """Refuse MUPO settings that would do nothing: an ``algorithm.mupo`` block whose
    ``monitor_only`` is false with an estimator other than ``mupo`` (e.g. ``+mupo@algorithm.mupo=paper``
    with ``algorithm.adv_estimator=grpo``) would train plain GRPO without a single ``mupo/*`` metric.
    Plain GRPO without ``algorithm.mupo`` and the monitored baseline (``grpo_monitor``) pass.

    A start-up check only (the driver's ``validate_config``): the trainer hook treats such a config
    as MUPO off, as it treats plain GRPO.

    Raises:
        ConfigError: naming ``algorithm.adv_estimator`` and ``algorithm.mupo.monitor_only``.
    """
    algo = config.get("algorithm", None) if hasattr(config, "get") else None
    if algo is None or algo.get("mupo", None) is None or mupo_mode(algo) is not None:
        return
    estimator = algo.get("adv_estimator", None)
    raise ConfigError(
        f"algorithm.mupo is set but algorithm.adv_estimator={estimator} and algorithm.mupo.monitor_only=false: "
        f"this run would train plain {estimator} with MUPO's settings ignored and no mupo/* metrics. Set "
        "algorithm.adv_estimator=mupo to train MUPO, or use +mupo@algorithm.mupo=grpo_monitor "
        "(algorithm.mupo.monitor_only=true) for the GRPO baseline with MUPO's metrics, or drop algorithm.mupo "
        "for plain GRPO."
    )


def check_validation_sampling(config) -> None:
    """The validation sampling settings read by the ``val-mupo/*`` metrics, checked at start-up
    rather than at the first validation, hours later.

    Raises:
        ConfigError: naming ``actor_rollout_ref.rollout.val_kwargs`` and the field out of range.
    """
    from verl_mupo.evaluation import EvaluationError, Sampling

    val_kwargs = OmegaConf.select(config, "actor_rollout_ref.rollout.val_kwargs", default=None)
    if val_kwargs is None:
        return
    try:
        Sampling.from_val_kwargs(val_kwargs)
    except (EvaluationError, TypeError, ValueError) as e:
        raise ConfigError(f"actor_rollout_ref.rollout.val_kwargs: {e} (the validation's sampling settings; the "
                          "val-mupo/* metrics and verl's validation read them)") from None


def check_mupo_config(config) -> MupoConfig | None:
    """Validate the MUPO parts of a full verl config. Returns the run's settings
    (:func:`verl_mupo.glue.run_config.run_settings`: embedder placement resolved), or ``None`` when the run
    uses neither ``adv_estimator=mupo`` nor ``algorithm.mupo.monitor_only`` (and has no
    ``algorithm.mupo`` block: :func:`check_estimator`).

    A run that grades with the project's scorer (``pkg://verl_mupo.scoring``) must be able to run its
    symbolic stage (:func:`verl_mupo.glue.reward_deps.grader_problem`), whatever its estimator. Other
    than that, a run that does not ask for verl-mupo (:func:`verl_mupo.glue.scope.requested`: no
    ``adv_estimator=mupo``, no ``algorithm.mupo``) is not checked at all.

    Raises:
        ConfigError: with the name of the setting to change.
    """
    if uses_project_scorer(config):
        problem = grader_problem()
        if problem is not None:
            raise ConfigError(f"reward.custom_reward_function.path={SCORER_MODULE}: {problem}")
    if not requested(config):
        return None
    cfg = run_settings(config)  # bad keys and values first
    check_estimator(config)
    check_validation_sampling(config)
    if cfg is None:
        return None
    trainer = config.get("trainer", {})
    v1 = trainer.get("v1", {}) or {}
    trainer_mode = v1.get("trainer_mode", "sync")
    if bool(trainer.get("use_v1", True)) and trainer_mode not in SUPPORTED_TRAINER_MODES:
        raise ConfigError(
            f"trainer.v1.trainer_mode={trainer_mode}: MUPO hooks PPOTrainer._compute_advantage, used by "
            f"{SUPPORTED_TRAINER_MODES}; set trainer.v1.trainer_mode=sync"
        )
    n = OmegaConf.select(config, "actor_rollout_ref.rollout.n", default=None)
    if n is not None and int(n) < cfg.min_responses:
        raise ConfigError(
            f"actor_rollout_ref.rollout.n={n} is smaller than algorithm.mupo.num_groups * "
            f"algorithm.mupo.min_group_size = {cfg.num_groups} * {cfg.min_group_size} = {cfg.min_responses}: "
            "raise rollout.n or lower num_groups / min_group_size (paper: n=15, K=3, G_min=3)"
        )
    if importlib.util.find_spec("sentence_transformers") is None:
        raise ConfigError("MUPO embeds responses with sentence-transformers: `pip install sentence-transformers`")
    from verl_mupo.embedding import model_resolves

    problem = model_resolves(cfg.embedder.model)  # a folder that is not there stops here, before Ray starts
    if problem is not None:
        raise ConfigError(problem)
    manager = OmegaConf.select(config, "reward.reward_manager.name", default=None)
    if manager != "mupo":
        logger.warning(
            "verl_mupo: reward.reward_manager.name=%s; MUPO needs a binary 'acc' per response. "
            "reward.reward_manager.name=mupo provides it (and format); other managers must return it.", manager,
        )
    logger.warning("verl_mupo: algorithm.mupo.embedder.placement resolves to %s, embedder.device to %s",
                   cfg.embedder.placement, cfg.embedder.device or "null (the actor's GPU)")
    return cfg
