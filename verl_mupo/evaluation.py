"""acc@k from verl's validation dumps (``trainer.validation_data_dir``), as the paper reports it.

    python -m verl_mupo.evaluation runs/virl39k/mupo_7b/val_generations          # newest step
    python -m verl_mupo.evaluation runs/.../val_generations --step 100 -k 1 2 4
    python -m verl_mupo.evaluation runs/eval/greedy runs/eval/sampled             # both acc@1s side by side

acc@k is the unbiased estimator ``1 - C(n - c, k) / C(n, k)`` for a prompt with ``n`` samples of
which ``c`` are correct, averaged over prompts (verl's own ``best@k`` is a bootstrap and reads low:
1 correct of 4 gives 0.68 for best@4, 1.0 here). acc@1 comes two ways, labelled apart:

- ``acc@1(greedy)``: one response at temperature 0 (``val_kwargs.temperature=0``), as the authors'
  evaluation runs;
- ``acc@1(mean of n)``: the mean accuracy of the n samples at temperature > 0, the k=1 case of the
  estimator.

The sampling settings of a dump come from the ``<step>.val-mupo.json`` record that the validation
hook (:mod:`verl_mupo.glue.validation_metrics`) writes beside verl's ``<step>.jsonl``.

Rows come from verl's JSONL: ``uid`` (verl 0.9.1's sample key ``<prompt uid>_<session>_<i>``, split at
its last two underscores as verl splits it, see :func:`sample_key`; one sample per session, its last
output), ``acc`` (0 or 1, from the reward's extra info) and ``data_source`` (the benchmark;
``pkg://verl_mupo.scoring`` returns it). Benchmarks are averaged into the paper's two groups (math,
general) by the catalog in :mod:`verl_mupo.data.benchmarks`; sets the paper scored with an LLM judge
are scored here by rules, reported apart and kept out of the averages.

Bad input stops with one line naming the file and line, the record or the flag, exit code 2: a
line that is not a JSON object, a row without ``data_source`` or with an empty one (benchmarks would
be pooled into one row) or without ``acc``, ``acc`` outside {0, 1}, a ``uid`` that is not verl's
sample key or repeats an earlier line's, a ``<step>.val-mupo.json`` with sampling settings
:class:`Sampling` refuses, ``-k`` below 1 or above the samples per prompt, ``--step`` below 0. A greedy dump (its record
says temperature 0) reports acc@1 only, whatever ``-k`` asks beyond it.

This module is also the one home of the validation-file layout beside verl's dumps:
``<step>.jsonl`` (verl), ``<step>.embeddings.npz`` and ``<step>.val-mupo.json`` (the hook).
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from math import comb
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from verl_mupo.data.benchmarks import GROUPS, lookup  # the one home of the benchmarks' names, groups, scoring

__all__ = [
    "EvaluationError", "Sampling", "BenchmarkResult", "acc_at_k", "sample_key", "split_uid", "correct_counts",
    "evaluate", "missing_ks", "metrics_of", "BenchmarkInfo", "benchmark_info", "step_dumps", "resolve_dump", "read_dump", "dump_counts",
    "embeddings_path", "record_path", "write_embeddings", "read_embeddings", "write_record", "read_record",
    "GROUPS", "DEFAULT_KS",
]

#: ks the command line prints when ``-k`` is not given (those up to the samples per prompt)
DEFAULT_KS = (1, 4)
_STEP_FILE = re.compile(r"^(\d+)\.jsonl$")


class EvaluationError(ValueError):
    """Bad evaluation input; the message is one line naming the file and line, or the flag."""


# ----------------------------------------------------------------------------------------------
# the estimator


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


# ----------------------------------------------------------------------------------------------
# sampling settings and benchmarks


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
            return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))

        def is_real(v):
            return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)

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
        return "acc@1_greedy" if self.greedy else "acc@1"

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


# ----------------------------------------------------------------------------------------------
# counting and the table


#: verl 0.9.1's sample key: ``f"{uid}_{session_id}_{i}"`` (``verl/trainer/ppo/v1/agent_loop_tq.py``,
#: ``_agent_loop_postprocess``): the prompt uid, the session (``0 .. n-1``, one per sample) and the index of the
#: agent loop's output in that session; the prompt uid may itself contain underscores
_SAMPLE_KEY = re.compile(r"(?P<prompt>.+)_(?P<session>[0-9]+)_(?P<index>[0-9]+)")


def sample_key(uid: str) -> tuple[str, str, int]:
    """``(prompt, session, index)`` of verl's sample key ``<prompt uid>_<session>_<index>``.

    The rule is verl 0.9.1's own: its v1 trainer (``verl/trainer/ppo/v1/trainer_base.py``,
    ``_validate``) splits a key at its **last two** underscores (``key.rsplit("_", 2)``), reads both
    parts as integers and names the session ``<prompt uid>_<session>``; the validation dump's ``uid``
    column is that key, and the prompt uid is a fresh ``uuid4`` per prompt. So ``a_b_3_1`` is prompt
    ``a_b``, session ``a_b_3``, output 1, whatever underscores the prompt uid holds. Here both parts
    must be ASCII decimal digits and the prompt uid non-empty.

    Raises:
        ValueError: a key of another shape (no ``_<session>_<index>`` suffix, a suffix that is not two
            decimal integers, an empty prompt uid): it is not a key verl 0.9.1 writes, and guessing
            which of its rows are samples of one prompt could merge different prompts or samples.
    """
    m = _SAMPLE_KEY.fullmatch(str(uid))
    if m is None:
        raise ValueError(f"uid {str(uid)!r} is not verl's sample key <prompt uid>_<session>_<index> "
                         "(verl 0.9.1's v1 trainer writes it in the uid column of a validation dump)")
    return m["prompt"], f"{m['prompt']}_{m['session']}", int(m["index"])


def split_uid(uid: str, strict: bool = False) -> tuple[str, str]:
    """``(prompt, session)`` of verl's sample key ``<prompt uid>_<session>_<index>``, by verl's own
    rule (:func:`sample_key`: split at the last two underscores; the prompt uid may hold more).

    A key of another shape raises ``ValueError`` when ``strict``; otherwise it is its own prompt and
    its own session, a fallback that never joins two different keys, so it merges no samples as long
    as each key occurs once (:func:`dump_counts` is strict and refuses a key seen twice)."""
    try:
        prompt, session, _ = sample_key(uid)
    except ValueError:
        if strict:
            raise
        return str(uid), str(uid)
    return prompt, session


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


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
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
    ks = None if ks is None else _check_ks(ks)
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


def metrics_of(results: Sequence[BenchmarkResult], sampling: Sampling | None = None,
               prefix: str = "val-mupo") -> dict[str, float]:
    """Flat metrics ``<prefix>/<benchmark>/acc@k`` (``acc@1_greedy`` for greedy sampling, where only
    acc@1 is logged) for verl's tracking."""
    out = {}
    for r in results:
        for k, v in r.acc.items():
            if sampling is not None and sampling.greedy:
                if k == 1:
                    out[f"{prefix}/{r.name}/acc@1_greedy"] = v
                continue
            out[f"{prefix}/{r.name}/acc@{k}"] = v
    return out


# ----------------------------------------------------------------------------------------------
# files: verl's dumps and the hook's records beside them


def step_dumps(folder: str | Path) -> dict[int, Path]:
    """``{step: path}`` of verl's ``<step>.jsonl`` validation dumps in ``folder``."""
    out = {}
    for p in Path(folder).iterdir():
        m = _STEP_FILE.match(p.name)
        if m and p.is_file():
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def resolve_dump(path: str | Path, step: int | None = None) -> Path:
    """A dump file, or the ``<step>.jsonl`` of a folder (the newest one unless ``step`` is given)."""
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path}: no such file or folder")
    if path.is_file():
        if step is not None:
            raise EvaluationError(f"--step {step}: give a folder of <step>.jsonl dumps, not the file {path}")
        return path
    dumps = step_dumps(path)
    if not dumps:
        raise EvaluationError(f"{path}: no <step>.jsonl validation dumps (set trainer.validation_data_dir)")
    if step is None:
        return dumps[max(dumps)]
    if step not in dumps:
        raise EvaluationError(f"--step {step}: {path} has dumps for steps {sorted(dumps)}")
    return dumps[step]


def read_dump(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` of every non-empty line of a verl validation JSONL."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise EvaluationError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise EvaluationError(f"{path}:{lineno}: not a JSON object")
            rows.append((lineno, row))
    if not rows:
        raise EvaluationError(f"{path}: empty validation dump")
    return rows


def dump_counts(path: str | Path) -> dict[str, dict[str, list[int]]]:
    """:func:`correct_counts` of one dump; one sample per session, its output with the highest index
    (verl writes every output of a multi-output session with the session's final score and counts
    the last one, as here).

    Raises:
        EvaluationError: naming ``file:line`` for a corrupt line, a row without ``uid``, ``acc`` or a
            ``data_source`` (missing, empty or blank), a ``uid`` that is not verl's sample key
            ``<prompt uid>_<session>_<index>`` (:func:`sample_key`) or that an earlier line has
            already used, or ``acc`` not in {0, 1}.
    """
    path = Path(path)
    seen: dict[str, tuple[int, str, str, object, int]] = {}
    first_line: dict[str, int] = {}
    for lineno, row in read_dump(path):
        for key in ("uid", "data_source", "acc"):
            if row.get(key) is None:
                hint = {
                    "data_source": "without it every benchmark would be pooled into one row; have the reward "
                                   "function return data_source in its dict (pkg://verl_mupo.scoring does)",
                    "acc": "use reward.reward_manager.name=mupo, or a scorer returning acc in {0, 1}",
                    "uid": "not a verl validation dump",
                }[key]
                raise EvaluationError(f"{path}:{lineno}: no '{key}'; {hint}")
        source = row["data_source"]
        if not isinstance(source, str) or not source.strip():
            raise EvaluationError(f"{path}:{lineno}: data_source={source!r} is not a benchmark name; an empty name "
                                  "would pool benchmarks into one row; set data_source in the benchmark's parquet")
        uid = str(row["uid"])
        try:
            prompt, session, index = sample_key(uid)
        except ValueError as e:
            raise EvaluationError(f"{path}:{lineno}: {e}; without it the samples of a prompt cannot be told "
                                  "apart from other prompts") from None
        if uid in first_line:
            raise EvaluationError(f"{path}:{lineno}: uid {uid!r} already on line {first_line[uid]}; verl writes "
                                  "each sample once (two dumps concatenated?)")
        first_line[uid] = lineno
        if session not in seen or index > seen[session][4]:  # the session's last output, as verl counts it
            seen[session] = (lineno, source, prompt, row["acc"], index)
    rows = list(seen.values())
    return correct_counts([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                          where=lambda i: f"{path}:{rows[i][0]}")


def _step_of(dump: Path) -> int:
    m = _STEP_FILE.match(dump.name)
    if not m:
        raise EvaluationError(f"{dump}: not a <step>.jsonl validation dump")
    return int(m.group(1))


def embeddings_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"{int(step)}.embeddings.npz"


def record_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"{int(step)}.val-mupo.json"


def write_embeddings(folder: str | Path, step: int, embeddings: np.ndarray, prompts: Sequence[str],
                     data_sources: Sequence[str], accs: Sequence[float], keys: Sequence[str] | None = None) -> Path:
    """Save the validation embeddings of one step (float16 unit rows, ``(n, d)``) with, per row, the
    prompt uid, the dump's sample key (``uid`` column of ``<step>.jsonl``; ``""`` if unknown), the
    ``data_source`` and ``acc`` (NaN if unknown)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    emb = np.asarray(embeddings, dtype=np.float16)
    n = emb.shape[0]
    keys = list(keys) if keys is not None else [""] * n
    if not len(prompts) == len(data_sources) == len(accs) == len(keys) == n:
        raise ValueError("embeddings, prompts, data_sources, accs and keys differ in length")
    path = embeddings_path(folder, step)
    np.savez(path, embedding=emb, prompt=np.array(prompts, dtype=str), key=np.array(keys, dtype=str),
             data_source=np.array(data_sources, dtype=str), acc=np.asarray(accs, dtype=np.float32),
             step=np.int64(step))
    return path


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays :func:`write_embeddings` saved (``embedding`` as float32).

    Raises:
        EvaluationError: one line naming the file: not a readable ``.npz`` (cut short while it was
            written, another file under its name), or without the arrays the hook writes."""
    import zipfile

    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise ValueError("a single array, not an .npz archive")
        with z:
            out = {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as e:
        raise EvaluationError(f"{path}: not a readable embeddings file ({type(e).__name__}: {e}); it may have been "
                              "cut short while the run wrote it: delete it (the report then draws no t-SNE map "
                              "for that step) or rerun that validation") from None
    missing = [k for k in ("embedding", "data_source") if k not in out]
    if missing:
        raise EvaluationError(f"{path}: no {', '.join(missing)} array in it (has {sorted(out)}); not an embeddings "
                              "file the val-mupo hook wrote")
    out["embedding"] = out["embedding"].astype(np.float32)
    return out


def write_record(folder: str | Path, step: int, sampling: Sampling, metrics: Mapping[str, float], **extra) -> Path:
    """``<step>.val-mupo.json``: the sampling settings and the ``val-mupo/*`` metrics of one validation."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = record_path(folder, step)
    data = {"step": int(step), "sampling": asdict(sampling),
            "metrics": {k: float(v) for k, v in metrics.items()}, **extra}
    path.write_text(json.dumps(data, indent=1, sort_keys=True))
    return path


def read_record(folder: str | Path, step: int) -> dict | None:
    """The record of ``step`` (``sampling`` as a :class:`Sampling`), or ``None`` if there is none.

    Raises:
        EvaluationError: one line naming the record file: not JSON, not a record, or sampling settings
            :class:`Sampling` refuses (a negative or NaN temperature, ``n`` below 1, a number written as
            a string...).
    """
    path = record_path(folder, step)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("sampling"), dict):
            raise TypeError("no 'sampling' object")
        data["sampling"] = Sampling(**data["sampling"])
    except EvaluationError as e:
        raise EvaluationError(f"{path}: {e}; not the settings of a validation (rewrite or remove the record)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as e:
        raise EvaluationError(f"{path}: not a validation record ({e})") from None
    return data


# ----------------------------------------------------------------------------------------------
# the command


def _fmt(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.2f}"


def format_table(columns: Sequence[tuple[str, Sequence[BenchmarkResult], int]]) -> str:
    """Text table: rows are benchmarks, columns ``(header, results, k)``; rule-scored benchmarks and
    the averages first, judge-scored ones in a section of their own."""
    names: dict[str, BenchmarkResult] = {}
    for _, results, _ in columns:
        for r in results:
            names.setdefault(r.name, r)
    order = [n for n, r in names.items() if not r.is_average and r.scoring == "rule"]
    avgs = [n for n, r in names.items() if r.is_average]
    judged = [n for n, r in names.items() if r.scoring == "judge"]
    width = max([len(n) for n in names] + [9])
    heads = [h for h, _, _ in columns]
    widths = [max(len(h), 7) for h in heads]
    lookup = [{r.name: r for r in results} for _, results, _ in columns]

    def line(name):
        cells = []
        for (_, _, k), table, w in zip(columns, lookup, widths):
            r = table.get(name)
            cells.append(_fmt(r.acc.get(k) if r else None).rjust(w))
        r = names[name]
        return f"{name.ljust(width)}  " + "  ".join(cells) + f"  {r.prompts:>7}  {r.n:>3}"

    head = f"{'benchmark'.ljust(width)}  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths)) + f"  {'prompts':>7}  {'n':>3}"
    out = [head] + [line(n) for n in order + avgs]
    for n in avgs:
        out.append(f"  {n}: mean over {', '.join(names[n].members)}")
    if judged:
        out += ["", "judge-scored in the paper (an LLM judge); scored here by rules, not comparable, kept out of the averages:",
                head] + [line(n) for n in judged]
    return "\n".join(out)


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m verl_mupo.evaluation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dumps", nargs="+", help="verl validation JSONL files, or trainer.validation_data_dir folders")
    p.add_argument("-k", type=int, nargs="+", default=None,
                   help=f"the ks of acc@k (default: {' '.join(map(str, DEFAULT_KS))}, those up to the samples per prompt)")
    p.add_argument("--step", type=int, default=None, help="the validation step to read from each folder (default: the newest)")
    args = p.parse_args(argv)
    if args.k is not None:
        args.k = list(dict.fromkeys(_check_ks(args.k)))  # -k 1 1 is one column
    if args.step is not None and args.step < 0:
        raise EvaluationError(f"--step {args.step}: a validation step is an integer >= 0 (verl's global step)")
    columns = []
    notes = []
    for i, arg in enumerate(args.dumps, 1):
        dump = resolve_dump(arg, args.step)
        record = read_record(dump.parent, _step_of(dump)) if _STEP_FILE.match(dump.name) else None
        sampling = record["sampling"] if record else None
        counts = dump_counts(dump)
        greedy = sampling is not None and sampling.greedy
        missing = []
        if greedy:  # one response at temperature 0: acc@1 only, whatever -k asks beyond it
            if args.k is not None and 1 not in args.k:
                raise EvaluationError(f"-k {' '.join(map(str, args.k))}: {dump} is greedy (temperature 0), it has "
                                      "acc@1 only; add -k 1 or give a sampled dump")
            ks = (1,)
            results = evaluate(counts, ks, strict=True, where=str(dump))
        elif args.k is not None:
            ks = tuple(args.k)
            results = evaluate(counts, ks, strict=True, where=str(dump))
        else:  # every default k some benchmark has samples for; the others lack it, with a note
            n_max = max(min(v[0] for v in prompts.values()) for prompts in counts.values())
            ks = tuple(k for k in DEFAULT_KS if k <= n_max) or (1,)
            results = evaluate(counts, ks, strict=False, where=str(dump))
            missing = [f"{dump}: {note}" for note in missing_ks(results, ks)]
        tag = f" [{i}]" if len(args.dumps) > 1 and sampling is None else ""
        for k in ks:
            header = sampling.column(k) if sampling is not None else f"acc@{k}{tag}"
            columns.append((header, results, k))
        notes.append(f"{tag.strip() + ' ' if tag else ''}{dump}: " + (sampling.describe() if sampling else
                                    "sampling unknown (no <step>.val-mupo.json beside the dump)"))
        notes += missing
    print(format_table(columns))
    print()
    print("\n".join(notes))
    return 0


def main(argv=None) -> int:
    """The command line; bad input prints one line (file and line, or the flag) and returns 2."""
    try:
        return _main(argv)
    except EvaluationError as e:
        print(f"verl_mupo.evaluation: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
