"""Read the per-step metrics verl's console logger prints (``step:N - key:value - ...``) and show
the ones a MUPO user looks at.

``python -m verl_mupo.cpu.report run.log`` prints one row per training step, then one row per
validation with its ``val-mupo/*`` acc@k and pairwise distance.
"""

from __future__ import annotations

import argparse

from verl_mupo import metric_names as M
from verl_mupo.report.logs import parse_console_metrics  # its one home

__all__ = ["parse_console_metrics", "format_table", "COLUMNS"]

COLUMNS = [
    ("step", "training/global_step"),
    ("lambda", M.LAMBDA),
    ("acc", M.ACC_MEAN),
    ("div_bonus", M.DIVERSITY_BONUS_MEAN),
    ("pair_dist", M.PAIRWISE_DISTANCE_MEAN),
    ("groups", M.NUM_GROUPS_MEAN),
    ("size_min", M.GROUP_SIZE_MIN),
    ("reward", "critic/score/mean"),
    ("adv_max", "critic/advantages/max"),
    ("embed_s", M.TIME_EMBED_S),
    ("step_s", "timing_s/step"),
]


VAL_PREFIX = M.VAL_PREFIX + "/"


def training_rows(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """The lines of training steps (verl prints a validation alone on a line of its own)."""
    return [r for r in rows if "timing_s/step" in r]


def validation_rows(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [r for r in rows if any(k.startswith(VAL_PREFIX) for k in r)]


def format_validation(rows: list[dict[str, float]]) -> str:
    """One row per validation: every ``val-mupo/*`` value, columns named without the prefix."""
    keys = sorted({k for r in rows for k in r if k.startswith(VAL_PREFIX)})
    names = [k[len(VAL_PREFIX):] for k in keys]
    widths = [max(len(n), 7) for n in names]
    lines = ["  ".join([f"{'step':>5}"] + [f"{n:>{w}}" for n, w in zip(names, widths)])]
    for r in rows:
        cells = [f"{r[k]:>{w}.4f}" if k in r else f"{'-':>{w}}" for k, w in zip(keys, widths)]
        lines.append("  ".join([f"{r['step']:>5.0f}", *cells]))
    return "\n".join(lines)


def format_table(rows: list[dict[str, float]]) -> str:
    """The training steps' table (validation lines are left out)."""
    rows = training_rows(rows) or rows
    cols = [(name, key) for name, key in COLUMNS if any(key in r for r in rows) or name == "step"]
    lines = ["  ".join(f"{name:>9}" for name, _ in cols)]
    for r in rows:
        cells = []
        for name, key in cols:
            v = r.get(key, r.get("step") if name == "step" else None)
            cells.append(f"{'-':>9}" if v is None else f"{v:>9.0f}" if name == "step" else f"{v:>9.4f}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("log")
    args = p.parse_args(argv)
    with open(args.log, errors="replace") as f:
        rows = parse_console_metrics(f.read())
    if not rows:
        print(f"no 'step:N - ...' metric lines in {args.log}")
        return 1
    print(format_table(rows))
    val = validation_rows(rows)
    if val:
        print("\nvalidation (val-mupo/*: acc@k unbiased from n samples, pairwise embedding distance)")
        print(format_validation(val))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
