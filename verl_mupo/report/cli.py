"""``python -m verl_mupo.report RUN_DIR [RUN_DIR ...]`` (console script ``verl-mupo-report``).

Bad input prints one line naming the folder, file or flag and returns 2.
"""

from __future__ import annotations

import argparse
import sys

from verl_mupo.evaluation import EvaluationError
from verl_mupo.report.build import build_report, check_out, write_report
from verl_mupo.report.runs import ReportError, Run

__all__ = ["main"]

#: TSNE's and numpy's seeds are 32-bit unsigned
_MAX_SEED = 2**32 - 1


class _Parser(argparse.ArgumentParser):
    """argparse whose errors (``--seed abc``, a missing RUN_DIR) are one line and exit 2 like the rest."""

    def error(self, message):
        raise ReportError(message)


def _check_flags(args) -> None:
    """Numeric flags in range, before any run is read (a ReportError naming the flag)."""
    if not 0 <= args.seed <= _MAX_SEED:
        raise ReportError(f"--seed {args.seed}: must be an integer in [0, {_MAX_SEED}] (TSNE's random_state)")
    for flag, value in (("--step", args.step), ("--tsne-step", args.tsne_step)):
        if value is not None and value < 0:
            raise ReportError(f"{flag} {value}: must be >= 0 (verl's validation steps start at 0)")
    if args.tsne_max_points < 4:
        raise ReportError(f"--tsne-max-points {args.tsne_max_points}: must be >= 4 (t-SNE needs a few points)")


def _parser() -> argparse.ArgumentParser:
    from verl_mupo import report

    p = _Parser(prog="python -m verl_mupo.report", description=report.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a run's folder (validation dumps and metric logs anywhere up to three levels below)")
    p.add_argument("--out", default="mupo_report", help="output folder (default: ./mupo_report); refused if not empty")
    p.add_argument("--overwrite", action="store_true", help="replace the report's files in a non-empty --out")
    p.add_argument("--labels", nargs="+", help="one name per RUN_DIR for legends and tables (default: folder names)")
    p.add_argument("--step", type=int, help="validation step of the acc@k figure and tables (default: each run's last)")
    p.add_argument("--tsne-step", type=int, help="step of the t-SNE map (default: each run's last step with embeddings)")
    p.add_argument("--tsne-benchmark", help="only this data_source in the t-SNE map (default: all)")
    p.add_argument("--tsne-max-points", type=int, default=2000,
                   help="responses per run in the t-SNE map (default 2000, at least 4)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's published numbers")
    p.add_argument("--seed", type=int, default=0, help="seed of the t-SNE subsampling and fit, in [0, 2**32 - 1] (default 0)")
    return p


def _main(argv) -> int:
    args = _parser().parse_args(argv)
    _check_flags(args)
    check_out(args.out, args.overwrite)
    if args.labels is not None and len(args.labels) != len(args.runs):
        raise ReportError(f"--labels: {len(args.labels)} label(s) for {len(args.runs)} RUN_DIR(s)")
    labels = args.labels or [None] * len(args.runs)
    runs = [Run.load(path, label) for path, label in zip(args.runs, labels)]
    report = build_report(runs, step=args.step, tsne_step=args.tsne_step, tsne_benchmark=args.tsne_benchmark,
                          tsne_max_points=args.tsne_max_points, paper=not args.no_paper, seed=args.seed)
    for path in write_report(report, args.out, overwrite=args.overwrite):
        print(path)
    for path in report.removed:
        print(f"removed {path} (the earlier report's; these runs have none)")
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except (ReportError, EvaluationError) as e:
        print(f"verl_mupo.report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
