"""The command: acc@k from verl's validation dumps (``trainer.validation_data_dir``), as the paper reports it.

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

The file layout lives in :mod:`verl_mupo.evaluation.files`, the estimator in
:mod:`verl_mupo.evaluation.estimator`.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Sequence

from verl_mupo.evaluation.estimator import BenchmarkResult, EvaluationError, check_ks, evaluate, missing_ks
from verl_mupo.evaluation.files import dump_counts, is_step_dump, read_record, resolve_dump, step_of

__all__ = ["DEFAULT_KS", "format_table", "main"]

#: ks the command line prints when ``-k`` is not given (those up to the samples per prompt)
DEFAULT_KS = (1, 4)


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
        args.k = list(dict.fromkeys(check_ks(args.k)))  # -k 1 1 is one column
    if args.step is not None and args.step < 0:
        raise EvaluationError(f"--step {args.step}: a validation step is an integer >= 0 (verl's global step)")
    columns = []
    notes = []
    for i, arg in enumerate(args.dumps, 1):
        dump = resolve_dump(arg, args.step)
        record = read_record(dump.parent, step_of(dump)) if is_step_dump(dump) else None
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
