"""``python -m verl_mupo.report RUN_DIR [RUN_DIR ...]`` (console script ``verl-mupo-report``).

Bad input prints one line naming the folder, file or flag and returns 2.
"""

from __future__ import annotations

import argparse
import sys

from verl_mupo.evaluation import EvaluationError
from verl_mupo.report.build import build_report, write_report
from verl_mupo.report.runs import ReportError, Run

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from verl_mupo import report

    p = argparse.ArgumentParser(prog="python -m verl_mupo.report", description=report.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a run's folder (validation dumps and metric logs anywhere up to three levels below)")
    p.add_argument("--out", default="mupo_report", help="output folder (default: ./mupo_report); refused if not empty")
    p.add_argument("--overwrite", action="store_true", help="replace the report's files in a non-empty --out")
    p.add_argument("--labels", nargs="+", help="one name per RUN_DIR for legends and tables (default: folder names)")
    p.add_argument("--step", type=int, help="validation step of the acc@k figure and tables (default: each run's last)")
    p.add_argument("--tsne-step", type=int, help="step of the t-SNE map (default: each run's last step with embeddings)")
    p.add_argument("--tsne-benchmark", help="only this data_source in the t-SNE map (default: all)")
    p.add_argument("--tsne-max-points", type=int, default=2000, help="responses per run in the t-SNE map (default 2000)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's published numbers")
    p.add_argument("--seed", type=int, default=0, help="seed of the t-SNE subsampling and fit (default 0)")
    return p


def _main(argv) -> int:
    args = _parser().parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.runs):
        raise ReportError(f"--labels: {len(args.labels)} label(s) for {len(args.runs)} RUN_DIR(s)")
    labels = args.labels or [None] * len(args.runs)
    runs = [Run.load(path, label) for path, label in zip(args.runs, labels)]
    report = build_report(runs, step=args.step, tsne_step=args.tsne_step, tsne_benchmark=args.tsne_benchmark,
                          tsne_max_points=args.tsne_max_points, paper=not args.no_paper, seed=args.seed)
    for path in write_report(report, args.out, overwrite=args.overwrite):
        print(path)
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except (ReportError, EvaluationError) as e:
        print(f"verl_mupo.report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
