"""The mechanism experiment (docs/mechanism.md): a task with three complementary strategies whose
choice cannot be conditioned on the problem, a warm-started tiny policy, and the measurements of
strategy collapse (GRPO) against strategy keeping (MUPO) through verl's real loop on CPU.

- :mod:`verl_mupo.mechanism.task`: the problems, the strategies, the scorer (``compute_score``);
- :mod:`verl_mupo.mechanism.warmstart`: data files and the supervised warm start;
- :mod:`verl_mupo.mechanism.analysis`: per-step and held-out measurements, summary, figures.

``recipes/mechanism/run.sh`` runs it all; no verl import in ``task``.
"""
