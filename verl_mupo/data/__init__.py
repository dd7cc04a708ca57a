"""Data preparation (docs/data.md): ``python -m verl_mupo.data.benchmarks`` (the evaluation sets and
their catalog, :data:`verl_mupo.data.benchmarks.CATALOG`) and ``python -m verl_mupo.data.virl39k``
(the training set, deduplicated against them). Shared: :mod:`verl_mupo.data.rows` (the output
schema) and :mod:`verl_mupo.data.safe_io` (one-line errors, output sets, rejected rows)."""
