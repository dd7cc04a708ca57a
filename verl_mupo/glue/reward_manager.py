"""The ``mupo`` reward manager (``reward.reward_manager.name=mupo``).

verl's reward loop scores one response at a time, so this manager does the per-response part of
MUPO's reward: binary accuracy, format, and the base reward ``(1 - w_f) acc + w_f format``. The
group part (clustering, the gated diversity term, lambda) is added at the advantage stage by the
trainer hook, which reads ``acc`` from this manager's ``reward_extra_info``.

It is verl's ``naive`` manager (decoding, calling the scoring function, async handling) with the
scoring function wrapped by :func:`mupo_score`.
"""

from __future__ import annotations

import functools
import inspect

from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

from verl_mupo.config import MupoConfig
from verl_mupo.text import has_valid_format


def mupo_score(result, solution_str: str, format_weight: float) -> dict:
    """Turn a scoring function's result into MUPO's reward parts.

    ``result`` is a float (must be 0 or 1: it is the accuracy) or a dict with ``acc`` (0/1) or, failing
    that, a 0/1 ``score``; ``format`` is taken from the dict or checked on ``solution_str``.
    Returns ``{"score": (1 - w_f) acc + w_f format, "acc", "format"}`` plus the dict's other keys.
    """
    extra = dict(result) if isinstance(result, dict) else {}
    acc = extra.get("acc", extra.get("accuracy", extra.get("score")) if extra else result)
    try:
        acc = float(acc)
    except (TypeError, ValueError):
        acc = float("nan")
    if acc not in (0.0, 1.0):
        raise ValueError(
            f"the mupo reward manager needs a binary accuracy, the scoring function returned {result!r}. "
            "Return 0/1 or a dict with 'acc' in {0, 1} from reward.custom_reward_function "
            "(pkg://verl_mupo.scoring does)."
        )
    fmt = extra.get("format")
    fmt = float(has_valid_format(solution_str)) if fmt is None else float(fmt)
    extra.pop("score", None)
    extra.update(acc=acc, format=fmt, score=(1.0 - format_weight) * acc + format_weight * fmt)
    return extra


#: extras a reward may not return on verl's legacy trainer: it merges them into a batch that already
#: holds these dataset columns, and ``DataProto.union`` refuses a second one (``data_source ... are not
#: the same object``, after the first rollout); pkg://verl_mupo.scoring returns the benchmark as
#: ``benchmark``
RESERVED_EXTRAS = ("data_source", "reward_model", "extra_info", "uid")


def _wrap(compute_score, format_weight: float, reserved: tuple[str, ...] = ()):
    def finish(result, solution_str):
        out = mupo_score(result, solution_str, format_weight)
        clash = sorted(set(out) & set(reserved))
        if clash:
            raise ValueError(f"reward.custom_reward_function returned {clash}, which name dataset columns verl "
                             "already carries; verl's legacy trainer cannot merge them back (DataProto.union). "
                             "Return them under another name (pkg://verl_mupo.scoring returns 'benchmark').")
        return out

    if inspect.iscoroutinefunction(compute_score):
        @functools.wraps(compute_score)
        async def wrapped(*, solution_str, **kwargs):
            return finish(await compute_score(solution_str=solution_str, **kwargs), solution_str)
    else:
        @functools.wraps(compute_score)
        def wrapped(*, solution_str, **kwargs):
            return finish(compute_score(solution_str=solution_str, **kwargs), solution_str)
    return wrapped


@register("mupo")
class MupoRewardManager(NaiveRewardManager):
    """verl's naive manager whose scores are MUPO's ``(1 - w_f) acc + w_f format``, with binary
    ``acc`` and ``format`` in ``reward_extra_info``. ``w_f`` is ``algorithm.mupo.format_weight``.
    On the legacy trainer (``trainer.use_v1=false``) a scoring function that returns a key of
    :data:`RESERVED_EXTRAS` is an error naming it (verl would fail later, in ``DataProto.union``)."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        algo = config.get("algorithm", {}) if hasattr(config, "get") else {}
        mupo = MupoConfig.from_mapping(algo.get("mupo") if hasattr(algo, "get") else None)
        self.format_weight = float(mupo.format_weight)
        trainer = config.get("trainer", {}) if hasattr(config, "get") else {}
        legacy = hasattr(trainer, "get") and not bool(trainer.get("use_v1", True))
        self.compute_score = _wrap(self.compute_score, self.format_weight, RESERVED_EXTRAS if legacy else ())
        self.is_async_reward_score = inspect.iscoroutinefunction(self.compute_score)
