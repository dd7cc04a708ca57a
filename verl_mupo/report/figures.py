"""The report's figures, built with matplotlib's object API (no pyplot state, no display needed).

Every function returns a ``matplotlib.figure.Figure`` whose artists hold the plotted values: a
run's line has ``gid="run:<label>"`` (``"run:<label>:acc@1"`` / ``":acc@4"`` over steps), a published
number ``gid="paper:<model>"``, a t-SNE panel's points ``gid="tsne:<label>:correct"`` /
``":incorrect"``. Accuracies are drawn in percent.
"""

from __future__ import annotations

import math
import textwrap
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from verl_mupo import metric_names as M
from verl_mupo.evaluation import BenchmarkResult, Sampling, benchmark_info
from verl_mupo.report.paper import paper_numbers_for

__all__ = ["panel_order", "acc_at_k_figure", "acc_over_steps_figure", "mupo_curves_figure", "tsne_figure",
           "curve", "MUPO_PANELS", "UNDEFINED_WHEN", "MONITOR_TAG", "run_color"]

#: the training curves drawn per step: (title, metric keys, y label)
MUPO_PANELS = (
    ("lambda (diversity weight)", (M.LAMBDA,), "lambda"),
    ("diversity bonus (train, mean)", (M.DIVERSITY_BONUS_MEAN,), "scale x mean 1 - cos, before lambda"),
    ("pairwise distance (train)", (M.PAIRWISE_DISTANCE_MEAN,), "mean 1 - cos"),
    ("pairwise distance (validation)", (M.val_pairwise_distance(),), "mean 1 - cos"),
    ("group sizes (train)", (M.GROUP_SIZE_MIN, M.GROUP_SIZE_MEAN, M.GROUP_SIZE_MAX), "responses"),
    ("groups per prompt (train)", (M.NUM_GROUPS_MEAN,), "K"),
    ("accuracy (train)", (M.ACC_MEAN,), "mean acc"),
)
#: logged 0.0 that means "undefined": ``{metric: (condition metric, value)}``; the group stage logs a
#: diversity bonus of 0 at a step without any correct response (the mean over correct responses of an
#: empty set), drawn as a gap
UNDEFINED_WHEN = {M.DIVERSITY_BONUS_MEAN: (M.ACC_MEAN, 0.0)}
#: the label suffix of a run whose mupo/* metrics were monitored only (another estimator, e.g. GRPO)
MONITOR_TAG = " (monitor only: mupo/* not applied)"
_STYLES = {M.GROUP_SIZE_MIN: ":", M.GROUP_SIZE_MEAN: "-", M.GROUP_SIZE_MAX: "--"}
_PAPER_MARKERS = {"Qwen2.5-VL-7B (base)": "s", "MUPO-Thinker-7B": "*", "7B, K=1 (GRPO)": "v", "7B, K=3 (MUPO)": "^"}


def run_color(i: int):
    """The colour of the ``i``-th run in every figure."""
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def panel_order(names) -> list[str]:
    """Benchmarks in reading order: math sets, ``math_avg``, general sets, ``general_avg``, other
    sets, then the judge-scored sets."""
    def key(name):
        if name in ("math_avg", "general_avg"):
            return (0 if name == "math_avg" else 1, 1, name)
        info = benchmark_info(name)
        rank = {"math": 0, "general": 1}.get(info.group, 2)
        return (rank + (3 if info.scoring == "judge" else 0), 0, name.lower())

    return sorted(set(names), key=key)


def _title(name: str) -> str:
    info = benchmark_info(name) if not name.endswith("_avg") else None
    if info is not None and info.scoring == "judge":
        return f"{name}\n(judge-scored in the paper; rules here)"
    return name.replace("_avg", " average")


def _canonical(name: str) -> str | None:
    return name if name.endswith("_avg") else benchmark_info(name).name


def _grid(n: int, width: float = 3.4, height: float = 2.9, max_cols: int = 4, min_width: float = 7.0):
    cols = max(1, min(max_cols, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(max(min_width, width * cols), height * rows + 1.0), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _suptitle(fig, text: str) -> None:
    fig.suptitle("\n".join(textwrap.wrap(text, 100)), fontsize="large")


def _legend(fig, axes):
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                   ncols=min(4, len(labels)), fontsize="small", frameon=False)


def acc_at_k_figure(runs: Sequence[tuple[str, int, Sequence[BenchmarkResult], Sampling | None]],
                    paper: bool = True) -> Figure:
    """acc@k against k, one panel per benchmark and average, one line per run.

    Args:
        runs: ``(label, step, results, sampling)`` per run (:meth:`verl_mupo.report.runs.Run.results`).
        paper: draw the paper's numbers (:mod:`verl_mupo.report.paper`) where the benchmark matches.
    """
    names = panel_order({r.name for _, _, results, _ in runs for r in results})
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        for i, (label, step, results, sampling) in enumerate(runs):
            r = next((r for r in results if r.name == name), None)
            if r is None or not r.acc:
                continue
            ks = sorted(r.acc)
            if sampling is not None and sampling.greedy:
                ax.plot([1], [100 * r.acc[1]], marker="D", linestyle="none", color=run_color(i),
                        label=f"{label} (greedy)", gid=f"run:{label}")
                continue
            ax.plot(ks, [100 * r.acc[k] for k in ks], marker="o", color=run_color(i), label=label, gid=f"run:{label}")
        if paper:
            for p in paper_numbers_for(_canonical(name)):
                unstated = p.metric == "unstated"
                ax.plot([p.k], [100 * p.value], marker=_PAPER_MARKERS.get(p.model, "P"), linestyle="none",
                        markersize=8, color="black", markerfacecolor="none" if unstated else "black",
                        label=f"paper: {p.model}" + (" (metric not stated, at k=1)" if unstated else ""),
                        gid=f"paper:{p.model}")
        ax.set_title(_title(name), fontsize="medium")
        ax.set_xlabel("k")
        ax.set_ylabel("acc@k (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    steps = ", ".join(f"{label}: step {step}" for label, step, _, _ in runs)
    _suptitle(fig, f"acc@k (unbiased estimator) against k; validation of {steps}")
    _legend(fig, axes)
    return fig


def _k_for_steps(val_metrics: Mapping[int, Mapping[str, float]], name: str) -> int | None:
    ks = {int(key.rsplit("acc@", 1)[1]) for m in val_metrics.values() for key in m
          if key.startswith(M.val("acc@", name)) and key.rsplit("acc@", 1)[1].isdigit()}
    ks.discard(1)
    if not ks:
        return None
    return 4 if 4 in ks else max(ks)


def acc_over_steps_figure(runs: Sequence[tuple[str, Mapping[int, Mapping[str, float]]]]) -> Figure:
    """acc@1 (solid) and acc@4 (dashed; the largest k below 4 when n < 4) over validation steps,
    one panel per benchmark and average, one colour per run.

    Args:
        runs: ``(label, {step: val-mupo metrics})`` per run (:attr:`Run.val_metrics`).
    """
    names = panel_order({key.split("/")[1] for _, vm in runs for m in vm.values() for key in m
                         if "/acc@" in key and key.count("/") == 2})
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        for i, (label, vm) in enumerate(runs):
            for key, style, tag in ((M.val_acc(name, 1), "-", "acc@1"),
                                    (M.val_acc(name, 1, greedy=True), "-.", "acc@1 greedy")):
                steps = [s for s, m in vm.items() if key in m]
                if steps:
                    ax.plot(steps, [100 * vm[s][key] for s in steps], linestyle=style, marker="o", markersize=3,
                            color=run_color(i), label=f"{label} {tag}", gid=f"run:{label}:{tag.replace(' ', '_')}")
            k = _k_for_steps(vm, name)
            if k is not None:
                key = M.val_acc(name, k)
                steps = [s for s, m in vm.items() if key in m]
                ax.plot(steps, [100 * vm[s][key] for s in steps], linestyle="--", marker="s", markersize=3,
                        color=run_color(i), label=f"{label} acc@{k}", gid=f"run:{label}:acc@{k}")
        ax.set_title(_title(name), fontsize="medium")
        ax.set_xlabel("training step")
        ax.set_ylabel("accuracy (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    _suptitle(fig, "validation acc@1 (solid) and acc@4 (dashed) over training")
    _legend(fig, axes)
    return fig


def _family(key: str) -> str:
    return "val" if key.startswith("val") else "train"


def curve(metrics: Mapping[int, Mapping[str, float]], key: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of one metric as drawn: every step of its family (training steps: those with
    any training metric; validation steps: those with any ``val*`` metric) from its first to its last
    logged step, NaN where the step did not log it (verl's file logger writes NaN as ``null``), logged
    a non-finite value, or logged a value that means undefined (:data:`UNDEFINED_WHEN`). NaN breaks
    the line: a gap, not a zero or a line joining the neighbours."""
    logged = [s for s, m in metrics.items() if key in m]
    if not logged:
        return [], []
    family = _family(key)
    steps = sorted(s for s, m in metrics.items() if logged[0] <= s <= logged[-1]
                   and any(_family(k) == family for k in m))
    cond = UNDEFINED_WHEN.get(key)
    values = []
    for s in steps:
        v = metrics[s].get(key, math.nan)
        if not math.isfinite(v) or (cond is not None and metrics[s].get(cond[0]) == cond[1]):
            v = math.nan
        values.append(float(v))
    return steps, values


def mupo_curves_figure(runs: Sequence[tuple]) -> Figure | None:
    """The ``mupo/*`` training curves and the validation pairwise distance over steps, one colour
    per run (:data:`MUPO_PANELS`), values as logged (the diversity bonus is ``diversity_scale * d``,
    before lambda; ``mupo/diversity_reward_mean`` is the lambda-weighted one), gaps where a step has
    none (:func:`curve`); ``None`` when no run logged any of them.

    Args:
        runs: ``(label, {step: metrics})`` or ``(label, {step: metrics}, mode)`` per run
            (:attr:`Run.metrics`, with ``val-mupo/*`` merged in; :attr:`Run.mode`): a ``"monitor"`` run's
            legend says its ``mupo/*`` metrics were monitored, not applied (:data:`MONITOR_TAG`).
    """
    runs = [(r[0], r[1], r[2] if len(r) > 2 else None) for r in runs]
    panels = [(t, keys, y) for t, keys, y in MUPO_PANELS
              if any(k in m for _, metrics, _ in runs for m in metrics.values() for k in keys)]
    if not panels:
        return None
    fig, axes = _grid(len(panels), max_cols=4)
    for ax, (title, keys, ylabel) in zip(axes, panels):
        for i, (label, metrics, mode) in enumerate(runs):
            name = label + (MONITOR_TAG if mode == "monitor" else "")
            for key in keys:
                steps, values = curve(metrics, key)
                if not any(math.isfinite(v) for v in values):
                    continue
                tag = f" {key.rsplit('_', 1)[1]}" if len(keys) > 1 else ""
                ax.plot(steps, values, linestyle=_STYLES.get(key, "-"), marker=".",
                        color=run_color(i), label=f"{name}{tag}", gid=f"run:{label}:{key}")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    _suptitle(fig, "MUPO metrics over training" + (" (a run marked 'monitor only' trained with another estimator; "
                                                   "its mupo/* metrics describe its batch)"
                                                   if any(m == "monitor" for *_, m in runs) else ""))
    _legend(fig, axes)
    return fig


def _subsample(prompts: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of whole prompts, in random prompt order, up to ``max_points`` rows."""
    if len(prompts) <= max_points:
        return np.arange(len(prompts))
    keep = []
    for p in rng.permutation(np.unique(prompts)):
        rows = np.flatnonzero(prompts == p)
        if keep and sum(map(len, keep)) + len(rows) > max_points:
            break
        keep.append(rows)
    return np.sort(np.concatenate(keep))


def tsne_figure(panels: Sequence[tuple[str, int, Mapping[str, np.ndarray]]], benchmark: str | None = None,
                max_points: int = 2000, seed: int = 0, pairwise: Mapping[str, float] | None = None) -> Figure:
    """The paper's t-SNE picture: validation response embeddings in 2-D, coloured by correct /
    incorrect, one panel per run.

    All runs' points are mapped by ONE ``sklearn.manifold.TSNE`` fit, so a tight cluster in one run
    and several modes in another are comparable on shared axes (t-SNE fitted per run would stretch
    every run over its panel).

    Args:
        panels: ``(label, step, embeddings file arrays)`` per run (:meth:`Run.embeddings`).
        benchmark: keep only rows of this ``data_source``.
        max_points: rows per run, whole prompts drawn at random (seeded) beyond it.
        seed: of the subsampling and of TSNE.
        pairwise: ``{label: validation pairwise distance}`` shown in the titles.

    Perplexity is ``min(30, (points - 1) / 3)`` (at least 1): scikit-learn needs it below the number
    of points, and 30 is its default.
    """
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    chosen = []
    for label, step, z in panels:
        rows = np.arange(len(z["embedding"]))
        if benchmark is not None:
            rows = rows[z["data_source"] == benchmark]
        rows = rows[_subsample(z["prompt"][rows], max_points, rng)] if len(rows) else rows
        chosen.append(rows)
    total = sum(len(r) for r in chosen)
    fig, axes = _grid(len(panels), width=4.2, height=4.0, max_cols=3)
    if total >= 4:
        x = np.concatenate([np.asarray(z["embedding"], dtype=np.float32)[rows] for (_, _, z), rows in zip(panels, chosen)])
        perplexity = max(1.0, min(30.0, (total - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        pad = 0.05 * (xy.max(0) - xy.min(0) + 1e-9)
        lo, hi = xy.min(0) - pad, xy.max(0) + pad
    offsets = np.cumsum([0] + [len(r) for r in chosen])
    for i, (ax, (label, step, z), rows) in enumerate(zip(axes, panels, chosen)):
        title = f"{label}, step {step}"
        if total < 4 or not len(rows):
            ax.set_title(f"{title}\ntoo few points for t-SNE ({len(rows)})", fontsize="medium")
            continue
        pts = xy[offsets[i]:offsets[i + 1]]
        correct = np.asarray(z["acc"])[rows] == 1.0
        ax.scatter(pts[~correct, 0], pts[~correct, 1], s=9, c="tab:red", alpha=0.5, marker="x", label="incorrect",
                   gid=f"tsne:{label}:incorrect")
        ax.scatter(pts[correct, 0], pts[correct, 1], s=12, c="tab:green", alpha=0.8, label="correct",
                   gid=f"tsne:{label}:correct")
        extra = f", pairwise distance {pairwise[label]:.3f}" if pairwise and label in pairwise else ""
        ax.set_title(f"{title}\n{len(rows)} responses, {100 * correct.mean():.1f}% correct{extra}", fontsize="medium")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xticks([])
        ax.set_yticks([])
    what = f"{benchmark} " if benchmark else ""
    _suptitle(fig, f"t-SNE of the {what}validation responses' embeddings (one fit over all runs, perplexity "
                   f"{max(1.0, min(30.0, (total - 1) / 3)):.0f})")
    _legend(fig, axes)
    return fig
