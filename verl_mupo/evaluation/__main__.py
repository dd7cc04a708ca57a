"""``python -m verl_mupo.evaluation``: the command of :mod:`verl_mupo.evaluation.cli`."""

from verl_mupo.evaluation.cli import main

raise SystemExit(main())
