"""Figures and a markdown summary from what verl wrote during one or more runs.

    python -m verl_mupo.report runs/virl39k/mupo_7b runs/virl39k/grpo_7b --out report/
    verl-mupo-report RUN_DIR [RUN_DIR ...] [--labels MUPO GRPO] [--step N] [--tsne-step N]

Reads each RUN_DIR (:mod:`verl_mupo.report.runs`): verl's validation dumps with the ``val-mupo``
hook's records and embeddings, and the per-step metrics of verl's ``file`` / ``console`` /
TensorBoard backends (:mod:`verl_mupo.report.logs`). Writes (:mod:`verl_mupo.report.build`):

- ``acc_at_k.png``: acc@k against k per benchmark, one line per run, the paper's numbers beside;
- ``acc_over_steps.png``: validation acc@1 and acc@4 over training steps;
- ``mupo_curves.png``: lambda, diversity bonus, pairwise distance (train and validation), group
  sizes, accuracy over steps;
- ``tsne.png``: the paper's t-SNE picture, one panel per run;
- ``summary.md``: the tables behind them.

Submodules: ``logs`` (metric logs, no matplotlib), ``runs``, ``paper`` (published numbers),
``figures``, ``build``, ``cli``.
"""
