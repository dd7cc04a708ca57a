"""acc@k from verl's validation dumps, as the paper reports it (``python -m verl_mupo.evaluation``,
console script ``verl-mupo-eval``; usage in :mod:`verl_mupo.evaluation.cli`).

One module per job:

- :mod:`.estimator`: the pure acc@k estimator and the group averages (no verl);
- :mod:`.sampling`: verl's validation sampling settings and the ``val-mupo/*`` metrics of one validation;
- :mod:`.sample_keys`: verl's sample key ``<prompt uid>_<session>_<index>``;
- :mod:`.files`: the validation-file layout (dumps, embeddings, records);
- :mod:`.cli`: the table and the command line.

The names below are re-exported so ``from verl_mupo.evaluation import evaluate`` keeps working.
"""

from verl_mupo.evaluation.cli import DEFAULT_KS, format_table, main
from verl_mupo.evaluation.estimator import (GROUPS, BenchmarkInfo, BenchmarkResult, EvaluationError, acc_at_k,
                                            benchmark_info, correct_counts, evaluate, missing_ks)
from verl_mupo.evaluation.files import (dump_counts, embeddings_path, read_dump, read_embeddings, read_record,
                                        record_path, resolve_dump, step_dumps, write_embeddings, write_record)
from verl_mupo.evaluation.sample_keys import sample_key, split_uid
from verl_mupo.evaluation.sampling import Sampling, metrics_of

__all__ = [
    "EvaluationError", "Sampling", "BenchmarkResult", "acc_at_k", "sample_key", "split_uid", "correct_counts",
    "evaluate", "missing_ks", "metrics_of", "BenchmarkInfo", "benchmark_info", "step_dumps", "resolve_dump",
    "read_dump", "dump_counts", "embeddings_path", "record_path", "write_embeddings", "read_embeddings",
    "write_record", "read_record", "GROUPS", "DEFAULT_KS", "format_table", "main",
]
