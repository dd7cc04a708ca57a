"""The acc@k estimator, pure: counts of correct samples per prompt in, acc@k per benchmark and the
paper's group averages out. Knows nothing of verl (no sample keys, no sampling settings, no files):
:mod:`verl_mupo.evaluation.sample_keys` turns verl's rows into prompts, :mod:`.files` reads the
dumps, :mod:`.sampling` knows verl's validation sampling.

acc@k is the unbiased estimator ``1 - C(n - c, k) / C(n, k)`` for a prompt with ``n`` samples of
which ``c`` are correct, averaged over prompts. Benchmarks are averaged into the paper's two groups
(math, general) by the catalog in :mod:`verl_mupo.data.benchmarks`; sets the paper scored with an
LLM judge are reported apart and kept out of the averages.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from math import comb
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from verl_mupo.data.benchmarks import GROUPS, lookup  # the one home of the benchmarks' names, groups, scoring

__all__ = ["EvaluationError", "BenchmarkResult", "BenchmarkInfo", "acc_at_k", "correct_counts", "evaluate",
           "missing_ks", "benchmark_info", "check_ks", "GROUPS"]


class EvaluationError(ValueError):
    """Bad evaluation input; the message is one line naming the file and line, or the flag."""


def acc_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``n`` (``c``
    correct) is correct: ``1 - C(n - c, k) / C(n, k)``.

    Raises:
        ValueError: ``k < 1``, ``k > n`` or not ``0 <= c <= n``.
    """
    if k < 1:
        raise ValueError(f"acc@k needs k >= 1, got k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ValueError(f"acc@{k} needs at least {k} samples per prompt, got {n}; raise the validation n")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


class BenchmarkInfo(NamedTuple):
    """What the catalog says about a ``data_source``: ``name`` (canonical; ``None`` for a set the
    paper did not use), ``group`` (``"math"``, ``"general"`` or ``None``) and ``scoring`` (``"rule"``,
    or ``"judge"``: the paper scored it with an LLM judge and rules here are a stand-in)."""

    name: str | None
    group: str | None
    scoring: str


def benchmark_info(data_source: str) -> BenchmarkInfo:
    """What the benchmark catalog (:data:`verl_mupo.data.benchmarks.CATALOG`) says about a dump's
    ``data_source``, matched on its names and aliases ignoring case and punctuation
    (``MathVista_MINI`` is MathVista); a set the catalog lacks is rule-scored and in no group."""
    entry = lookup(data_source)
    if entry is None:
        return BenchmarkInfo(None, None, "rule")
    return BenchmarkInfo(entry.name, entry.group, entry.scoring)


def _binary(value, where: str) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if v not in (0.0, 1.0):
        raise EvaluationError(f"{where}: acc={value!r} is not 0 or 1; acc@k needs a binary accuracy per "
                              "response (reward.reward_manager.name=mupo, or a scorer returning acc in {0, 1})")
    return int(v)


def correct_counts(data_sources: Sequence, prompts: Sequence, accs: Sequence, where=None,
                   expected: Mapping[tuple[str, str], int] | None = None) -> dict[str, dict[str, list[int]]]:
    """``{benchmark: {prompt: [n, c]}}``: samples and correct samples per prompt.

    Args:
        data_sources, prompts, accs: one entry per sample (a session's final output).
        where: ``i -> str`` naming sample ``i`` in error messages (default ``"sample i"``).
        expected: verl's ``expected_acc_counts`` (``(data_source, prompt) -> n``); samples that never
            came back count as incorrect, as verl's own validation metrics count them.

    Raises:
        EvaluationError: lengths differ, or an ``acc`` is not 0 or 1.
    """
    if not len(data_sources) == len(prompts) == len(accs):
        raise EvaluationError(f"data_sources ({len(data_sources)}), prompts ({len(prompts)}) and accs "
                              f"({len(accs)}) differ in length")
    where = where or (lambda i: f"sample {i}")
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for i, (src, prompt, acc) in enumerate(zip(data_sources, prompts, accs)):
        cell = counts[str(src)][str(prompt)]
        cell[0] += 1
        cell[1] += _binary(acc, where(i))
    for (src, prompt), n in (expected or {}).items():
        cell = counts[str(src)][str(prompt)]
        cell[0] = max(cell[0], int(n))
    return {b: dict(p) for b, p in counts.items()}


@dataclass
class BenchmarkResult:
    """acc@k of one benchmark (or a group average) at one validation step.

    Attributes:
        name: the ``data_source`` (or ``math_avg`` / ``general_avg``).
        group: ``math``, ``general`` or ``None``.
        scoring: ``rule`` or ``judge``.
        prompts: prompts scored.
        n: the smallest number of samples of a prompt (acc@k is defined for k <= n).
        acc: ``{k: acc@k}`` in [0, 1].
        members: the benchmarks an average is taken over (empty for a benchmark).
    """

    name: str
    group: str | None
    scoring: str
    prompts: int
    n: int
    acc: dict[int, float] = field(default_factory=dict)
    members: tuple[str, ...] = ()

    @property
    def is_average(self) -> bool:
        return bool(self.members)


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """``ks`` as a tuple of ints; an :class:`EvaluationError` naming ``-k`` for a k below 1."""
    ks = tuple(int(k) for k in ks)
    bad = [k for k in ks if k < 1]
    if bad:
        raise EvaluationError(f"-k {bad[0]}: k must be >= 1")
    return ks


def evaluate(counts: Mapping[str, Mapping[str, Sequence[int]]], ks: Iterable[int] | None = None,
             strict: bool = True, where: str = "the dump") -> list[BenchmarkResult]:
    """acc@k per benchmark, then the ``math_avg`` / ``general_avg`` rows (unweighted means over the
    rule-scored benchmarks of each group, as the paper averages benchmarks; data_sources naming one
    catalog benchmark, ``MathVista_MINI`` and ``mathvista``, count once, pooled: :func:`_one_per_benchmark`).
    An average has the ks all its benchmarks have.

    Args:
        counts: :func:`correct_counts`.
        ks: the ks to report; ``None``: every k from 1 to the benchmark's ``n``.
        strict: a k above a benchmark's ``n`` raises; ``False`` skips it for that benchmark.
        where: names the input in error messages.

    Raises:
        EvaluationError: ``k < 1``, or (``strict``) ``k > n`` for a benchmark.
    """
    ks = None if ks is None else check_ks(ks)
    results = []
    for bench in sorted(counts):
        prompts = counts[bench]
        ns = np.array([v[0] for v in prompts.values()], dtype=np.int64)
        cs = np.array([v[1] for v in prompts.values()], dtype=np.int64)
        n_min = int(ns.min())
        want = range(1, n_min + 1) if ks is None else ks
        if strict and ks is not None and max(ks) > n_min:
            raise EvaluationError(f"-k {max(ks)}: {where} has {n_min} sample(s) per prompt for {bench}; acc@{max(ks)} "
                                  f"needs n >= {max(ks)} (lower -k or raise actor_rollout_ref.rollout.val_kwargs.n)")
        acc = {k: float(np.mean([acc_at_k(int(n), int(c), k) for n, c in zip(ns, cs)])) for k in want if k <= n_min}
        _, group, scoring = benchmark_info(bench)
        results.append(BenchmarkResult(bench, group, scoring, len(prompts), n_min, acc))
    for group in GROUPS:
        members = [r for r in results if r.group == group and r.scoring == "rule"]
        if not members:
            continue
        entries = _one_per_benchmark(members)
        common = sorted(set.intersection(*(set(r.acc) for r in entries)))
        acc = {k: float(np.mean([r.acc[k] for r in entries])) for k in common}
        results.append(BenchmarkResult(f"{group}_avg", group, "rule", sum(r.prompts for r in members),
                                       min(r.n for r in members), acc, tuple(r.name for r in entries)))
    return results


def _one_per_benchmark(results: Sequence[BenchmarkResult]) -> list[BenchmarkResult]:
    """``results`` with the data_sources that name one catalog benchmark (:func:`benchmark_info`, the
    names the report merges: ``MathVista_MINI`` and ``mathvista``) pooled into one row, so an average
    counts each benchmark once. A pooled row is named ``A+B``; its acc@k is the mean over the prompts
    of all its rows (for the ks every row has)."""
    by_entry: dict[str, list[BenchmarkResult]] = {}
    for r in results:
        by_entry.setdefault(benchmark_info(r.name).name or r.name, []).append(r)
    out = []
    for rows in by_entry.values():
        if len(rows) == 1:
            out.append(rows[0])
            continue
        prompts = sum(r.prompts for r in rows)
        ks = sorted(set.intersection(*(set(r.acc) for r in rows)))
        acc = {k: sum(r.acc[k] * r.prompts for r in rows) / prompts for k in ks}
        out.append(BenchmarkResult("+".join(r.name for r in rows), rows[0].group, rows[0].scoring, prompts,
                                   min(r.n for r in rows), acc))
    return out


def missing_ks(results: Sequence[BenchmarkResult], ks: Iterable[int]) -> list[str]:
    """One note per k of ``ks`` that some results lack (a benchmark with fewer samples per prompt
    than k, or an average with such a member), naming them; ``[]`` when every result has every k."""
    notes = []
    for k in ks:
        short = [f"{r.name} (n={r.n})" for r in results if k not in r.acc and not r.is_average]
        avgs = [r.name for r in results if k not in r.acc and r.is_average]
        if short or avgs:
            notes.append(f"acc@{k} not reported for " + ", ".join(short + avgs)
                         + f": it needs at least {k} samples per prompt" + (", and an average needs it for every "
                                                                            "member" if avgs else ""))
    return notes
