"""acc@k from verl's validation dumps (``trainer.validation_data_dir``), as the paper reports it.

    python -m verl_mupo.evaluation runs/val_dumps/            # newest step
    python -m verl_mupo.evaluation runs/val_dumps/120.jsonl -k 1 4

acc@k is the unbiased estimator ``1 - C(n - c, k) / C(n, k)`` for a prompt with ``n`` samples of
which ``c`` are correct, averaged over prompts (verl's own best@k is a bootstrap and reads low).
Rows come from verl's JSONL: ``uid`` (``<prompt uid>_<session>_<i>``), the ``acc`` the reward
manager returned, and ``data_source`` (``pkg://verl_mupo.scoring`` returns it). Benchmarks are
averaged into the paper's two groups by name: math (MathVerse, MathVista, MathVision, WeMath,
LogicVista, DynaMath, Geometry3K) and general (MMStar, HallusionBench, MMVet, MMMU).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from math import comb
from pathlib import Path

__all__ = ["acc_at_k", "load_dump", "report", "MATH_BENCHMARKS", "GENERAL_BENCHMARKS"]

MATH_BENCHMARKS = ("mathverse", "mathvista", "mathvision", "wemath", "logicvista", "dynamath", "geometry3k", "geo3k")
GENERAL_BENCHMARKS = ("mmstar", "hallusionbench", "mmvet", "mmmu")


def acc_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``n`` (``c``
    correct) is correct: ``1 - C(n - c, k) / C(n, k)``."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ValueError(f"acc@{k} needs at least {k} samples per prompt, got {n}; raise the validation n")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def load_dump(path: str | Path) -> list[dict]:
    """Rows of one verl validation JSONL (or of the newest ``<step>.jsonl`` in a folder)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
        if not files:
            raise FileNotFoundError(f"no <step>.jsonl files in {path}; set trainer.validation_data_dir")
        path = files[-1]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _prompt_of(row: dict) -> str:
    uid = str(row.get("uid", row.get("input", "")))
    parts = uid.rsplit("_", 2)
    return parts[0] if len(parts) == 3 else uid


def _group(name: str) -> str | None:
    key = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    if any(b in key for b in MATH_BENCHMARKS):
        return "math"
    if any(b in key for b in GENERAL_BENCHMARKS):
        return "general"
    return None


def report(rows: list[dict], ks=(1, 4)) -> dict[str, dict[str, float]]:
    """``{benchmark: {"acc@1": ..., "acc@4": ..., "prompts": P, "samples": n}}`` plus
    ``"math avg"`` / ``"general avg"`` (unweighted means over benchmarks) when present."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        if "acc" not in row:
            raise KeyError("validation rows lack 'acc': use reward.reward_manager.name=mupo (or a scorer returning acc)")
        cell = counts[str(row.get("data_source", "all"))][_prompt_of(row)]
        cell[0] += 1
        cell[1] += int(float(row["acc"]) == 1.0)
    out: dict[str, dict[str, float]] = {}
    for bench, prompts in sorted(counts.items()):
        ns = {n for n, _ in prompts.values()}
        res = {f"acc@{k}": sum(acc_at_k(n, c, k) for n, c in prompts.values()) / len(prompts) for k in ks}
        res.update(prompts=float(len(prompts)), samples=float(min(ns)))
        out[bench] = res
    for group in ("math", "general"):
        members = [b for b in out if _group(b) == group]
        if members:
            out[f"{group} avg"] = {f"acc@{k}": sum(out[b][f"acc@{k}"] for b in members) / len(members) for k in ks}
            out[f"{group} avg"].update(prompts=float(sum(out[b]["prompts"] for b in members)), samples=float("nan"))
    return out


def format_report(table: dict[str, dict[str, float]], ks=(1, 4)) -> str:
    width = max([len(b) for b in table] + [9])
    head = f"{'benchmark'.ljust(width)}  " + "  ".join(f"{'acc@' + str(k):>7}" for k in ks) + f"  {'prompts':>7}  {'n':>3}"
    lines = [head]
    for bench, res in table.items():
        n = res["samples"]
        lines.append(f"{bench.ljust(width)}  " + "  ".join(f"{100 * res[f'acc@{k}']:7.2f}" for k in ks)
                     + f"  {res['prompts']:7.0f}  {'-' if n != n else int(n):>3}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dump", help="a verl validation JSONL, or the trainer.validation_data_dir folder (newest step)")
    p.add_argument("-k", type=int, nargs="+", default=[1, 4])
    args = p.parse_args(argv)
    print(format_report(report(load_dump(args.dump), tuple(args.k)), tuple(args.k)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
