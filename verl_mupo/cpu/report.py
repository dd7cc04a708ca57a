"""Read the per-step metrics verl's console logger prints (``step:N - key:value - ...``) and show
the ones a MUPO user looks at.

``python -m verl_mupo.cpu.report run.log`` prints one row per step.
"""

from __future__ import annotations

import argparse

from verl_mupo.report.logs import parse_console_metrics  # its one home

__all__ = ["parse_console_metrics", "format_table", "COLUMNS"]

COLUMNS = [
    ("step", "training/global_step"),
    ("lambda", "mupo/lambda"),
    ("acc", "mupo/acc_mean"),
    ("div_bonus", "mupo/diversity_bonus_mean"),
    ("pair_dist", "mupo/pairwise_distance_mean"),
    ("groups", "mupo/num_groups_mean"),
    ("size_min", "mupo/group_size_min"),
    ("reward", "critic/score/mean"),
    ("adv_max", "critic/advantages/max"),
    ("embed_s", "mupo/time_embed_s"),
    ("step_s", "timing_s/step"),
]


def format_table(rows: list[dict[str, float]]) -> str:
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
