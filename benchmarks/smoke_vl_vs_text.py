"""The CPU smoke run on the tiny Qwen2.5-VL (images) against the text-only Qwen2, same settings.

    python benchmarks/smoke_vl_vs_text.py [--rounds 2] [--steps 6] [--out runs/bench_smoke]

Runs ``recipes/cpu_smoke.sh mupo`` alternately with ``MUPO_SMOKE_MODEL=vl`` and ``text`` (so both see
the same machine load), and prints one table: the median training step time over steps 2..N
(``timing_s/step``; step 1 carries start-up), generation time, the whole command, the peak memory of
the command's process tree (proportional set size, sampled every 0.5 s with psutil), and the rollout/actor
log-prob gap verl logs (``training/rollout_probs_diff_mean``, mean over steps). Goal: a VL step at
most 1.3x the text step.
"""

from __future__ import annotations

import argparse
import os
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


def run(kind: str, steps: int, work: Path) -> dict:
    env = {**os.environ, "PYTHON": sys.executable, "MUPO_SMOKE_DIR": str(work), "MUPO_SMOKE_MODEL": kind}
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
        raise SystemExit(f"{kind} run failed (exit {rc}); see {work}/mupo.log")
    rows = [r for r in parse_console_metrics((work / "mupo.log").read_text(errors="replace")) if "timing_s/step" in r]
    later = rows[1:]
    return {
        "step_s": statistics.median(r["timing_s/step"] for r in later),
        "gen_s": statistics.median(r["timing_s/gen"] for r in later),
        "first_step_s": rows[0]["timing_s/step"],
        "command_s": seconds,
        "peak_gb": peak[0] / 2**30,
        "gap": statistics.mean(r["training/rollout_probs_diff_mean"] for r in rows),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out", default="runs/bench_smoke")
    a = p.parse_args(argv)
    results: dict[str, list[dict]] = {"text": [], "vl": []}
    for r in range(a.rounds):
        for kind in ("text", "vl"):
            work = Path(a.out) / f"{kind}_{r}"
            results[kind].append(run(kind, a.steps, work))
            print(f"round {r} {kind}: {results[kind][-1]}", flush=True)
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in results.items()}
    print(f"\n{a.rounds} rounds x {a.steps} steps, medians; step and generation times over steps 2..{a.steps}")
    print(f"{'model':<6} {'step s':>7} {'gen s':>6} {'step 1 s':>8} {'command s':>9} {'peak GB':>7} {'rollout/actor gap':>17}")
    for k in ("text", "vl"):
        m = med[k]
        print(f"{k:<6} {m['step_s']:7.2f} {m['gen_s']:6.2f} {m['first_step_s']:8.2f} {m['command_s']:9.1f} "
              f"{m['peak_gb']:7.2f} {m['gap']:17.2e}")
    print(f"VL / text step time: {med['vl']['step_s'] / med['text']['step_s']:.2f}x (goal <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
