"""How verl sampled a validation (:class:`Sampling`, from ``actor_rollout_ref.rollout.val_kwargs``)
and the flat ``val-mupo/*`` metrics of one validation (:func:`metrics_of`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from verl_mupo._arrays import is_integer, is_number
from verl_mupo.evaluation.estimator import BenchmarkResult, EvaluationError
from verl_mupo.metric_names import VAL_PREFIX, acc_name, val_acc

__all__ = ["Sampling", "metrics_of"]


@dataclass(frozen=True)
class Sampling:
    """How the validation responses were sampled (verl's ``actor_rollout_ref.rollout.val_kwargs``).

    verl 0.9.1's v1 agent loop validates with ``val_kwargs.temperature/top_p/top_k`` and ignores
    ``val_kwargs.do_sample``; greedy decoding is ``temperature == 0``."""

    n: int
    temperature: float
    top_p: float = 1.0
    top_k: int = -1
    do_sample: bool = True

    def __post_init__(self):
        """Validated at construction (an :class:`EvaluationError` naming the field): ``n`` an integer
        >= 1, ``temperature`` a finite number >= 0, ``top_p`` in (0, 1], ``top_k`` an integer >= -1
        (-1 and 0: off), ``do_sample`` a bool."""
        def bad(name, rule):
            raise EvaluationError(f"sampling {name}={getattr(self, name)!r}: {rule}")

        def is_int(v):
            return is_integer(v, integral_float=False)

        def is_real(v):
            return is_number(v) and math.isfinite(v)

        if not is_int(self.n) or self.n < 1:
            bad("n", "must be an integer >= 1 (samples per prompt)")
        if not is_real(self.temperature) or self.temperature < 0:
            bad("temperature", "must be a finite number >= 0 (0: greedy)")
        if not is_real(self.top_p) or not 0 < self.top_p <= 1:
            bad("top_p", "must be a number in (0, 1]")
        if not is_int(self.top_k) or self.top_k < -1:
            bad("top_k", "must be an integer >= -1 (-1 or 0: off)")
        if not isinstance(self.do_sample, (bool, np.bool_)):
            bad("do_sample", "must be true or false")
        for name, kind in (("n", int), ("temperature", float), ("top_p", float), ("top_k", int), ("do_sample", bool)):
            object.__setattr__(self, name, kind(getattr(self, name)))  # plain Python values (numpy in, JSON out)

    @property
    def greedy(self) -> bool:
        return float(self.temperature) == 0.0

    def acc1_name(self) -> str:
        """Metric name of acc@1 under these settings: ``acc@1_greedy`` or ``acc@1``."""
        return acc_name(1, self.greedy)

    def column(self, k: int) -> str:
        """Table header of acc@k: ``acc@1(greedy)``, ``acc@1(mean of 4)``, ``acc@4(of 4)``."""
        if self.greedy:
            return f"acc@{k}(greedy)"
        return f"acc@1(mean of {self.n})" if k == 1 else f"acc@{k}(of {self.n})"

    def describe(self) -> str:
        if self.greedy:
            return f"greedy (temperature 0), n={self.n}"
        return f"n={self.n} samples at temperature {self.temperature:g}, top_p {self.top_p:g}"

    @classmethod
    def from_val_kwargs(cls, val_kwargs) -> "Sampling":
        get = val_kwargs.get if hasattr(val_kwargs, "get") else lambda k, d=None: getattr(val_kwargs, k, d)

        def read(name, kind, default):
            value = get(name, default)
            try:
                out = kind(value)
            except (TypeError, ValueError):
                out = None
            if out is None or (kind is int and isinstance(value, float) and value != out):
                raise EvaluationError(f"sampling {name}={value!r}: must be {'an integer' if kind is int else 'a number'}")
            return out

        # do_sample as given: the constructor refuses a non-bool ("false" would be truthy)
        return cls(n=read("n", int, 1), temperature=read("temperature", float, 0.0), top_p=read("top_p", float, 1.0),
                   top_k=read("top_k", int, -1), do_sample=get("do_sample", False))


def metrics_of(results: Sequence[BenchmarkResult], sampling: Sampling | None = None,
               prefix: str = VAL_PREFIX) -> dict[str, float]:
    """Flat metrics ``<prefix>/<benchmark>/acc@k`` (``acc@1_greedy`` for greedy sampling, where only
    acc@1 is logged) for verl's tracking."""
    out = {}
    for r in results:
        for k, v in r.acc.items():
            if sampling is not None and sampling.greedy:
                if k == 1:
                    out[val_acc(r.name, 1, greedy=True, prefix=prefix)] = v
                continue
            out[val_acc(r.name, k, prefix=prefix)] = v
    return out
