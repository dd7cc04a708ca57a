"""Measurements of the mechanism experiment, from what verl wrote during each run.

    python -m verl_mupo.mechanism.analysis summary runs/mechanism            # table + summary.json
    python -m verl_mupo.mechanism.analysis figures runs/mechanism --out docs/figures
    python -m verl_mupo.mechanism.analysis subset heldout.parquet 256 val.parquet

A run folder (``<algo>_s<seed>``, written by ``recipes/mechanism/run.sh``) holds verl's console log
(``main_ppo.log``: the ``mupo/*`` metrics every step), the training rollouts of every step
(``rollouts/<step>.jsonl``, ``trainer.rollout_data_dir``) and the held-out validations
(``val/<step>.jsonl``, ``trainer.validation_data_dir``; step 0 is the warm-started policy).

Measured:

- per training step, from the rollouts: the share of each strategy (:func:`task.classify`), the
  entropy of the distribution over the three strategies (bits, responses that follow none left
  out; log2(3) = 1.585 is uniform), the
  mean number of distinct strategies among a prompt's responses, the accuracy;
- per held-out evaluation: acc@k for k = 1..n (unbiased, :func:`verl_mupo.evaluation.acc_at_k`),
  the strategy shares and entropy, and *coverage* (the share of problems whose working strategy was
  sampled at least once);
- the ``mupo/*`` metrics of the console log.

Across seeds: mean and sample standard deviation (``ddof=1``) per algorithm.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from verl_mupo.evaluation import acc_at_k, split_uid
from verl_mupo.mechanism import task

__all__ = ["strategy_stats", "heldout_stats", "training_curve", "heldout_curve", "load_run", "find_runs",
           "aggregate", "summary", "draw_figures", "subset"]

LABELS = (*task.STRATEGY_NAMES, task.OTHER)
_RUN = re.compile(r"^(?P<algo>[a-z0-9]+)_s(?P<seed>\d+)$")
_STEP = re.compile(r"^(\d+)\.jsonl$")


def entropy_bits(shares) -> float:
    """Shannon entropy (bits) of a distribution given as non-negative shares."""
    p = np.asarray([s for s in shares if s > 0], dtype=float)
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [json.loads(line) for line in f if line.strip()]


def _step_files(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    out = {int(m.group(1)): p for p in folder.iterdir() if (m := _STEP.match(p.name))}
    return dict(sorted(out.items()))


def _by_prompt(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[split_uid(r["uid"])[0] if r.get("uid") is not None else r["input"]].append(r)
    return groups


def _acc(row: dict) -> int:
    if row.get("acc") is not None:
        return int(float(row["acc"]) == 1.0)
    return int(task.compute_score(task.DATA_SOURCE, row["output"], row["gts"])["acc"])


def strategy_stats(rows: list[dict]) -> dict:
    """Strategy shares (``other`` included), the entropy of the distribution over the three strategies
    (``other`` left out, so at most log2(3) bits), each strategy's execution accuracy (share of its
    responses that box its own answer; NaN when it was not sampled), distinct strategies per prompt
    and accuracy of one set of responses (verl dump rows with ``output``, ``gts`` or ``acc``, ``uid``)."""
    if not rows:
        raise ValueError("no responses to measure")
    counts = Counter(task.classify(r["output"]) for r in rows)
    shares = {s: counts[s] / len(rows) for s in LABELS}
    prompts = _by_prompt(rows)
    distinct = [len({task.classify(r["output"]) for r in rs} - {task.OTHER}) for rs in prompts.values()]
    named = [counts[s] for s in task.STRATEGY_NAMES]
    entropy = entropy_bits([c / sum(named) for c in named]) if sum(named) else 0.0
    executed = Counter()
    for r in rows:
        s = task.classify(r["output"])
        if s != task.OTHER:
            executed[s] += int(task.compute_score(task.DATA_SOURCE, r["output"], "")["answer"] == str(task.answer_of(s)))
    execution = {s: executed[s] / counts[s] if counts[s] else float("nan") for s in task.STRATEGY_NAMES}
    return {"share": shares, "entropy": entropy, "execution": execution, "distinct_per_prompt": float(np.mean(distinct)),
            "acc": float(np.mean([_acc(r) for r in rows])), "responses": len(rows), "prompts": len(prompts)}


def heldout_stats(rows: list[dict], class_weights=task.CLASS_WEIGHTS) -> dict:
    """:func:`strategy_stats` plus acc@k for every k up to the samples per prompt and the coverage
    (share of problems whose working strategy was sampled at least once), for one validation dump."""
    out = strategy_stats(rows)
    prompts = _by_prompt(rows)
    n = min(len(rs) for rs in prompts.values())
    counts = [(len(rs), sum(_acc(r) for r in rs)) for rs in prompts.values()]
    out["n"] = n
    out["acc_at_k"] = {k: float(np.mean([acc_at_k(m, c, k) for m, c in counts])) for k in range(1, n + 1)}
    covered = []
    for rs in prompts.values():
        town = tuple(int(d) for d in re.findall(r"town ((?:\d ?){4})", rs[0]["input"])[0].split())
        covered.append(task.problem_class(town, class_weights) in {task.classify(r["output"]) for r in rs})
    out["coverage"] = float(np.mean(covered))
    return out


def training_curve(run: Path) -> dict[int, dict]:
    """``{step: strategy_stats}`` of a run's training rollouts."""
    return {step: strategy_stats(_read_jsonl(p)) for step, p in _step_files(run / "rollouts").items()}


def heldout_curve(run: Path) -> dict[int, dict]:
    """``{step: heldout_stats}`` of a run's validation dumps."""
    return {step: heldout_stats(_read_jsonl(p)) for step, p in _step_files(run / "val").items()}


def console_metrics(run: Path) -> dict[int, dict]:
    """``{step: {metric: value}}`` from the console log (``mupo/*``, ``critic/*``, ``timing_s/*``)."""
    from verl_mupo.cpu.report import parse_console_metrics

    log = run / "main_ppo.log"
    if not log.exists():
        return {}
    return {int(r["step"]): r for r in parse_console_metrics(log.read_text(errors="replace"))}


def load_run(run: Path) -> dict:
    """Everything measured for one run folder."""
    m = _RUN.match(run.name)
    seconds = (run / "done").read_text().strip() if (run / "done").exists() else None
    return {"algo": m.group("algo"), "seed": int(m.group("seed")), "path": str(run),
            "train": training_curve(run), "heldout": heldout_curve(run), "metrics": console_metrics(run),
            "seconds": float(seconds) if seconds else None}


def find_runs(work: Path) -> list[Path]:
    """Run folders (``<algo>_s<seed>``) under ``work`` that finished (hold a ``done`` file)."""
    return sorted(p for p in Path(work).iterdir() if p.is_dir() and _RUN.match(p.name) and (p / "done").exists())


def _mean_std(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _heldout_block(hs: list[dict], ks) -> dict:
    out = {f"acc@{k}": _mean_std([h["acc_at_k"][k] for h in hs]) for k in ks}
    out.update(entropy=_mean_std([h["entropy"] for h in hs]), coverage=_mean_std([h["coverage"] for h in hs]),
               distinct_per_prompt=_mean_std([h["distinct_per_prompt"] for h in hs]))
    out.update({f"share_{s}": _mean_std([h["share"][s] for h in hs]) for s in LABELS})
    return out


def aggregate(runs: list[dict]) -> dict:
    """Over seeds (mean, sample std): ``{"base": the step-0 held-out numbers of every run (the same
    warm start, sampled by each run), algo: {"heldout": {step: ...} for every evaluation step all its
    seeds share, "train_final": the last training batch's strategy numbers, ...}}``."""
    with_val = [r for r in runs if r["heldout"]]
    if not with_val:
        return {}
    ks = sorted(set.intersection(*(set(h["acc_at_k"]) for r in with_val for h in r["heldout"].values())))
    out: dict = {"base": {"runs": len(with_val), "heldout": _heldout_block([r["heldout"][min(r["heldout"])] for r in with_val], ks)},
                 "ks": ks}
    for algo in sorted({r["algo"] for r in with_val}):
        rs = [r for r in with_val if r["algo"] == algo]
        steps = sorted(set.intersection(*(set(r["heldout"]) for r in rs)))
        train_last = [r["train"][max(r["train"])] for r in rs if r["train"]]
        train = {"entropy": _mean_std([t["entropy"] for t in train_last]), "acc": _mean_std([t["acc"] for t in train_last])}
        train.update({f"share_{s}": _mean_std([t["share"][s] for t in train_last]) for s in LABELS})
        out[algo] = {"seeds": [r["seed"] for r in rs], "steps": steps, "final_step": steps[-1],
                     "heldout": {st: _heldout_block([r["heldout"][st] for r in rs], ks) for st in steps},
                     "train_final": train, "seconds": [r["seconds"] for r in rs]}
    return out


def _fmt(ms) -> str:
    return f"{ms[0]:.3f} ± {ms[1]:.3f}"


def algorithms(agg: dict) -> list[str]:
    """The algorithm names in an :func:`aggregate` result."""
    return [a for a in agg if a not in ("base", "ks")]


def summary_table(agg: dict, steps=None) -> str:
    """Markdown table of held-out numbers: the warm start, then each algorithm at ``steps`` (default:
    its middle evaluation and its last)."""
    algos = algorithms(agg)
    if not algos:
        return "no finished runs"
    ks = agg["ks"]
    show_k = [k for k in ks if k in (1, 2, 4, 8) or k == ks[-1]]
    rows = [("base (warm start, step 0)", agg["base"]["heldout"], f"{agg['base']['runs']} runs")]
    for a in algos:
        mine = agg[a]["steps"]
        want = steps or sorted({min(mine[1:] or mine, key=lambda s: abs(s - mine[-1] / 2)), mine[-1]})
        rows += [(f"{a.upper()} step {st}", agg[a]["heldout"][st], str(len(agg[a]["seeds"]))) for st in want if st in mine]
    head = ["policy", "seeds", *[f"acc@{k}" for k in show_k], "coverage", "entropy (bits)",
            *[f"share {s}" for s in task.STRATEGY_NAMES]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, d, seeds in rows:
        cells = [name, seeds, *[_fmt(d[f"acc@{k}"]) for k in show_k], _fmt(d["coverage"]), _fmt(d["entropy"]),
                 *[_fmt(d[f"share_{s}"]) for s in task.STRATEGY_NAMES]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(work: Path) -> dict:
    """Load every finished run under ``work``, write ``summary.json`` and ``summary.md`` there, return them."""
    runs = [load_run(p) for p in find_runs(work)]
    if not runs:
        raise SystemExit(f"no finished runs (<algo>_s<seed>/done) under {work}; run recipes/mechanism/run.sh first")
    agg = aggregate(runs)
    data = {"aggregate": agg, "runs": runs}
    (Path(work) / "summary.json").write_text(json.dumps(data, indent=1, default=float))
    table = summary_table(agg)
    (Path(work) / "summary.md").write_text(table + "\n")
    return {"aggregate": agg, "runs": runs, "table": table}


# ---------------------------------------------------------------------------------------------
# figures

COLORS = {"grpo": "tab:red", "mupo": "tab:blue", "base": "tab:gray"}
STRATEGY_COLORS = {"coast": "tab:cyan", "pass": "tab:brown", "river": "tab:green", "other": "lightgray"}


def _curve(runs, algo, part, fn):
    rs = [r for r in runs if r["algo"] == algo and r[part]]
    steps = sorted(set.intersection(*(set(r[part]) for r in rs))) if rs else []
    vals = np.array([[fn(r[part][s]) for s in steps] for r in rs]) if rs else np.zeros((0, 0))
    return np.asarray(steps), vals


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path: Path | None) -> None:
    """Labels, a 0..1 accuracy axis, grid, legend; saves to ``path`` when given."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    if path is not None:
        _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_figures(work: Path, out: Path, prefix: str = "mechanism_") -> list[Path]:
    """The figures (PNG) under ``out``: strategy shares over training steps per algorithm, strategy
    entropy over steps (training batches and held-out), held-out acc@k against k (middle and last
    evaluation), held-out acc@1 and acc@n over steps, execution accuracy per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [load_run(p) for p in find_runs(work)]
    if not runs:
        raise SystemExit(f"no finished runs under {work}")
    algos = sorted({r["algo"] for r in runs})
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    # 1. strategy shares over training steps (mean over seeds, band = min..max)
    fig, axes = plt.subplots(1, len(algos), figsize=(5.2 * len(algos), 3.6), sharey=True, squeeze=False)
    for ax, algo in zip(axes[0], algos):
        for s in LABELS:
            steps, v = _curve(runs, algo, "train", lambda t, s=s: t["share"][s])
            if not len(steps):
                continue
            ax.plot(steps, v.mean(0), color=STRATEGY_COLORS[s], label=s)
            ax.fill_between(steps, v.min(0), v.max(0), color=STRATEGY_COLORS[s], alpha=0.2)
        n_seeds = len([r for r in runs if r["algo"] == algo])
        ax.set_title(f"{algo.upper()}: strategy shares in training batches ({n_seeds} seeds)", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of responses")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"{prefix}strategies.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # 2. entropy over steps: training batches and held-out
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.6))
    for algo in algos:
        c = COLORS.get(algo)
        steps, v = _curve(runs, algo, "train", lambda t: t["entropy"])
        if len(steps):
            axes[0].plot(steps, v.mean(0), color=c, label=algo.upper())
            axes[0].fill_between(steps, v.min(0), v.max(0), color=c, alpha=0.2)
        steps, v = _curve(runs, algo, "heldout", lambda t: t["entropy"])
        if len(steps):
            axes[1].errorbar(steps + 0.4 * (algos.index(algo) - (len(algos) - 1) / 2), v.mean(0), yerr=v.std(0, ddof=1) if v.shape[0] > 1 else None, color=c,
                             marker="o", capsize=3, label=algo.upper())
    for ax, title in zip(axes, ("training batches", "held-out problems (step 0 = warm start)")):
        ax.axhline(math.log2(3), color="gray", ls=":", lw=1)
        ax.set_title(f"strategy entropy, {title}", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("bits (dotted: uniform over 3)")
        ax.set_ylim(0, 1.7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"{prefix}entropy.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    # 3. held-out acc@k against k: base (step 0 of every run), each algorithm mid-way and at its last step
    base = [r["heldout"][min(r["heldout"])] for r in runs if r["heldout"]]
    ks = sorted(set.intersection(*(set(h["acc_at_k"]) for h in base)))
    last = min(max(r["heldout"]) for r in runs if r["heldout"])
    common = sorted(set.intersection(*(set(r["heldout"]) for r in runs if r["heldout"])))
    mid = min(common, key=lambda s: abs(s - last / 2))
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.8), sharey=True)
    for ax, step in zip(axes, (mid, last)):
        series = [(f"base (warm start, step 0 of {len(base)} runs)", base, COLORS["base"])]
        series += [(a.upper(), [r["heldout"][step] for r in runs if r["algo"] == a and step in r["heldout"]], COLORS.get(a))
                   for a in algos]
        for name, hs, c in series:
            v = np.array([[h["acc_at_k"][k] for k in ks] for h in hs])
            ax.errorbar(ks, v.mean(0), yerr=v.std(0, ddof=1) if len(hs) > 1 else None, color=c, marker="o", ms=3,
                        capsize=2, label=f"{name}" if name.startswith("base") else f"{name}, {len(hs)} seeds")
        ax.set_xticks(ks)
        _finish(fig, ax, "k (samples per problem)", "held-out acc@k (unbiased)",
                f"held-out acc@k at step {step}, mean ± std over seeds", None)
    paths.append(out / f"{prefix}acc_at_k.png")
    _save(fig, paths[-1])

    # 4. held-out acc@1 and acc@n over training steps
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    for i, algo in enumerate(algos):
        c = COLORS.get(algo)
        for k, ls in ((1, "-"), (ks[-1], "--")):
            steps, v = _curve(runs, algo, "heldout", lambda h, k=k: h["acc_at_k"][k])
            if len(steps):
                ax.errorbar(steps + 0.4 * (i - (len(algos) - 1) / 2), v.mean(0), yerr=v.std(0, ddof=1) if v.shape[0] > 1 else None, color=c, ls=ls,
                            marker="o", ms=3, capsize=2, label=f"{algo.upper()} acc@{k}")
    _finish(fig, ax, "training step", "held-out accuracy", "held-out acc@1 and acc@n over training, mean ± std", None)
    paths.append(out / f"{prefix}acc_over_steps.png")
    _save(fig, paths[-1])

    # 5. execution accuracy of each strategy on the held-out problems (mean over the seeds that sampled it)
    fig, axes = plt.subplots(1, len(algos), figsize=(5.2 * len(algos), 3.6), sharey=True, squeeze=False)
    for ax, algo in zip(axes[0], algos):
        for s in task.STRATEGY_NAMES:
            steps, v = _curve(runs, algo, "heldout", lambda h, s=s: h["execution"][s])
            if len(steps):
                ax.plot(steps, np.nanmean(v, 0), color=STRATEGY_COLORS[s], marker="o", label=s)
                for row in v:
                    ax.plot(steps, row, color=STRATEGY_COLORS[s], alpha=0.3, lw=0.8)
        _finish(fig, ax, "training step", "boxes its own answer",
                f"{algo.upper()}: execution accuracy per strategy, held-out (thin: seeds)", None)
    paths.append(out / f"{prefix}execution.png")
    _save(fig, paths[-1])
    return paths


def subset(src: Path, rows: int, dst: Path) -> Path:
    """The first ``rows`` rows of a parquet file (the held-out problems evaluated during training)."""
    import pandas as pd

    df = pd.read_parquet(src)
    if not 0 < rows <= len(df):
        raise SystemExit(f"MECH_VAL_PROBLEMS must be between 1 and {len(df)} (the held-out problems), got {rows}")
    df.head(rows).to_parquet(dst)
    return dst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="print the table, write summary.json and summary.md in WORK")
    s.add_argument("work")
    f = sub.add_parser("figures", help="draw the PNGs")
    f.add_argument("work")
    f.add_argument("--out", default="docs/figures")
    b = sub.add_parser("subset", help="first ROWS rows of a parquet file")
    b.add_argument("src")
    b.add_argument("rows", type=int)
    b.add_argument("dst")
    a = p.parse_args(argv)
    if a.cmd == "summary":
        print(summary(Path(a.work))["table"])
    elif a.cmd == "figures":
        for path in draw_figures(Path(a.work), Path(a.out)):
            print(path)
    else:
        subset(Path(a.src), a.rows, Path(a.dst))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
