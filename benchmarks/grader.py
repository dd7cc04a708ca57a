"""The grader under verl's reward threads: one 7B step of responses plus pathological inputs.

    python benchmarks/grader.py [--threads 8] [--workers N] [--timeout-s S] [--seed 0] [--repeat 3] [--old REF]

1,920 responses (128 prompts x 15 rollouts, the paper's 7B step) with a realistic answer mix over
ViRL39K's answer types: multiple choice, integers and decimals with units, degrees, percent, yes/no,
and forms that need a symbolic comparison (surds, pi multiples, fractions against decimals,
expressions, equations, intervals, coordinates, trigonometry, complex numbers, logarithms), right
and wrong, each after 0.4-3 KB of
``<think>`` reasoning. Three pathological inputs are mixed in: 70 KB of ``\\boxed{``, 100k
``</think>`` before a right answer, and an expression that keeps sympy busy for minutes.

Each run grades everything with ``compute_score`` as verl's reward loop does (a thread pool calling
the scorer; ``--threads 1`` is the reference). Printed per run: wall time, CPU time (this process
and its workers, without the start of workers started before the run: what the run costs whatever
else the machine does), symbolic checks sent to the workers (and those answered by an earlier or
simultaneous check of the same pair), checks that ran out of time, grades lost against the
single-threaded run of the same scorer (right there, wrong here) and whether all grades are
identical to it (in every repeat; the row shows the run of median wall time, its CPU and counts,
and the most grades any repeat lost). Caches and workers are reset between runs; "warm" runs start their workers first
(as every step after a run's first), "cold" runs start them on first need. ``--old REF`` adds the
same runs with the scorer of a git revision (e.g. ``cdb738c``, the scorer before issue 8) without
the two hostile texts (they take minutes there).

The hostile-mix row (``--hostile 2000``) grades 2,000 distinct hostile responses of about 2,048
tokens each (:func:`make_hostile`: restated questions, invisible text, hedges, false chains, deep
nesting, and a trigonometric identity with a large power such as ``(x+1)^{70}``) from the same
threads. Every row reports its slowest response and how many took over 1 s: the grader's
per-response budget (``VERL_MUPO_GRADER_RESPONSE_BUDGET_S``, 1 s) bounds them.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_SENTENCES = [
    "Let the side of the square be $a$, so the area is $a^{2}$.", "By the Pythagorean theorem $c^2 = a^2 + b^2$.",
    "The angle $\\angle ABC$ subtends the arc $AC$, so it is half of $\\angle AOC$.",
    "Counting the objects in the image gives {count} items in the first row.",
    "Substituting $x = {count}$ into $f(x) = \\frac{x+1}{2}$ we get the value.",
    "Since the triangles are similar, $\\frac{AB}{DE} = \\frac{BC}{EF}$.",
    "The radius is $r$, so the circumference is $2\\pi r$ and the area is $\\pi r^{2}$.",
    "Wait, let me re-check the figure: the height is marked as {count} units.",
    "Option B cannot be right because the angle is obtuse.", "So the slope is $\\frac{\\Delta y}{\\Delta x}$.",
]


def _reasoning(rng) -> str:
    out, target = [], int(rng.integers(400, 3000))
    while sum(map(len, out)) < target:
        out.append(_SENTENCES[int(rng.integers(len(_SENTENCES)))].replace("{count}", str(int(rng.integers(1, 50)))))
    return " ".join(out)


def _prompt(rng) -> tuple[str, dict | None, list, list]:
    """(ground truth, extra_info, right answers, wrong answers); answers are (text, needs_symbolic)."""
    kind = rng.choice(["choice", "integer", "decimal", "degree", "percent", "yes_no", "root", "pi", "fraction",
                       "expression", "quadratic", "equation", "interval", "coordinate", "trig", "complex", "log"],
                      p=[.22, .13, .05, .05, .03, .04, .09, .07, .06, .06, .04, .05, .03, .03, .02, .02, .01])
    a, b = int(rng.integers(2, 9)), int(rng.integers(2, 12))
    if kind == "choice":
        letter, opts = "ABCD"[int(rng.integers(4))], [f"{k * b} cm" for k in range(1, 5)]
        text = opts["ABCD".index(letter)]
        other = "ABCD"[("ABCD".index(letter) + 1) % 4]
        return letter, {"options": opts}, [(letter, 0), (f"({letter})", 0), (f"{letter}. {text}", 0),
                                           (f"\\text{{{letter}}}", 0), (text, 0)], \
            [(other, 0), (f"{letter} or {other}", 0), (opts["ABCD".index(other)], 0)]
    if kind == "integer":
        n = a * b + 1
        return str(n), None, [(str(n), 0), (f"{n} \\text{{ cm}}", 0), (f"{n}.0", 0), (f"x = {n}", 0)], \
            [(str(n + 1), 0), (f"{n}\\sqrt{{2}}", 1), (f"{n}, {n + 1}", 0), (f"{n}x", 1)]
    if kind == "decimal":
        v = a + b / 4
        return f"{v}", None, [(f"{v}", 0), (f"{v:.2f}", 0), (f"\\frac{{{4 * a + b}}}{{4}}", 1)], [(f"{v + .5}", 0)]
    if kind == "degree":
        n = 5 * b + 30
        return str(n), None, [(f"{n}^\\circ", 0), (f"{n}°", 0), (str(n), 0)], [(f"{180 - n}^\\circ", 0)]
    if kind == "percent":
        n = 5 * b
        return f"{n}\\%", None, [(f"{n}\\%", 0), (f"{n / 100}", 0), (str(n), 0)], [(f"{n + 5}\\%", 0)]
    if kind == "yes_no":
        word = ["Yes", "No"][int(rng.integers(2))]
        return word, None, [(word, 0), (word.lower(), 0), (f"\\text{{{word}}}", 0)], \
            [({"Yes": "No", "No": "Yes"}[word], 0), ("Yes or No", 0)]
    if kind == "root":
        r = [2, 3, 5, 6, 7][int(rng.integers(5))]
        return f"{a}\\sqrt{{{r}}}", None, [(f"{a}\\sqrt{{{r}}}", 0), (f"\\sqrt{{{a * a * r}}}", 1),
                                           (f"{a}\\sqrt{r}", 1), (f"{a * math.sqrt(r):.5f}", 1)], \
            [(f"{a}\\sqrt{{{r + 1}}}", 1), (str(a), 1), (f"\\sqrt{{{a * r}}}", 1)]
    if kind == "pi":
        return f"\\frac{{{b}\\pi}}{{{a}}}", None, [(f"\\frac{{{b}\\pi}}{{{a}}}", 0), (f"\\frac{{{b}}}{{{a}}}\\pi", 1),
                                                   (f"{b * math.pi / a:.6f}", 1)], \
            [(f"\\frac{{{b}}}{{{a}}}", 1), (f"{b}\\pi", 1)]
    if kind == "fraction":
        return f"\\frac{{{b}}}{{{a}}}", None, [(f"\\frac{{{b}}}{{{a}}}", 0), (f"{b}/{a}", 1),
                                               (f"\\frac{{{2 * b}}}{{{2 * a}}}", 1)], \
            [(f"\\frac{{{a}}}{{{b}}}", 1), (f"\\frac{{{b + 1}}}{{{a}}}", 1)]
    if kind == "expression":
        return f"{a}x+{b}", None, [(f"{a}x+{b}", 0), (f"{b}+{a}x", 1), (f"y = {a}x + {b}", 1)], \
            [(f"{a}x-{b}", 1), (f"{b}x+{a}", 1), (f"{a}x", 1)]
    if kind == "quadratic":
        return f"x^2+{a + b}x+{a * b}", None, [(f"(x+{a})(x+{b})", 1), (f"x^{{2}}+{a + b}x+{a * b}", 1)], \
            [(f"(x+{a})(x-{b})", 1), (f"x^2+{a * b}", 1)]
    if kind == "equation":
        return f"y={a}x+{b}", None, [(f"y = {b} + {a}x", 1), (f"y={a}x+{b}", 0), (f"{a}x - y + {b} = 0", 1)], \
            [(f"y={a}x-{b}", 1), (f"x={a}y+{b}", 1)]
    if kind == "interval":
        return f"[{a}, \\infty)", None, [(f"[{a},+\\infty)", 1), (f"x \\geq {a}", 1), (f"[{a}, \\infty)", 0)], \
            [(f"({a}, \\infty)", 1), (f"x > {a}", 1)]
    if kind == "trig":
        return f"{a}\\sin 2x", None, [(f"{a}\\sin 2x", 0), (f"{2 * a}\\sin x \\cos x", 1),
                                       (f"{2 * a}\\cos x\\sin x", 1)], [(f"{a}\\sin x", 1), (f"{2 * a}\\sin x", 1)]
    if kind == "complex":
        return f"{a}+{b}i", None, [(f"{a}+{b}i", 0), (f"{b}i+{a}", 1)], [(f"{a}-{b}i", 1), (f"{b}+{a}i", 1)]
    if kind == "log":
        return str(b), None, [(str(b), 0), (f"\\log_{{{a}}} {a ** b}", 1)], [(f"\\log_{{{a}}} {b}", 1)]
    return f"({a}, {b})", None, [(f"({a},{b})", 0), (f"P({a}, {b})", 0), (f"\\left({a}, {b}\\right)", 0),
                                 (f"(\\frac{{{2 * a}}}{{2}}, {b})", 1)], [(f"({b}, {a})", 0)]


def make_mix(seed: int = 0, prompts: int = 128, rollouts: int = 15):
    """``(items, needs_symbolic)``: items are ``(response, ground_truth, extra_info)``."""
    rng = np.random.default_rng(seed)
    items, symbolic = [], 0
    for _ in range(prompts):
        gt, extra, right, wrong = _prompt(rng)
        for _ in range(rollouts):
            pool = right if rng.random() < 0.6 else wrong
            answer, needs = pool[int(rng.integers(len(pool)))]
            symbolic += needs
            items.append((f"<think>{_reasoning(rng)}</think>\n\nSo the answer is $\\boxed{{{answer}}}$.", gt, extra))
    return items, symbolic


PATHOLOGICAL = [
    ("<think>" + "\\boxed{" * 10_000, "5", None),  # 70 KB of \boxed{: no answer
    ("<think>" + "</think>" * 100_000 + " \\boxed{5}", "5", None),  # 800 KB, a right answer at the end
    # past the cheap rules (\\sin), and sympy expands it for minutes
    ("<think>expand</think> \\boxed{(\\sin a+\\sin b+\\sin c+\\sin d)^{20}}",
     "(\\sin a+\\sin b+\\sin c-\\sin d)^{20}", None),
]


def _hostile_answer(rng, k: int) -> tuple[str, str, dict | None]:
    """One hostile ``(answer, ground truth, extra_info)``, distinct for each ``k``: what a policy
    searching for reward tries (issue 19): restated questions, invisible text, hedges, false chains,
    long lists, deep nesting, and sympy traps (a trigonometric identity with a large power)."""
    a, b = int(rng.integers(2, 40)) + k % 7, int(rng.integers(2, 40))
    kind = k % 20
    if kind == 0:
        a += a == 10  # 10^k is scientific notation: a value
        return f"{a}^{{{b % 12 + 2}}}", str(a ** (b % 12 + 2)), None  # a power restated
    if kind == 1:
        return f"{a} \\times {b + k}", str(a * (b + k)), None
    if kind == 2:
        return f"\\binom{{{a + 10}}}{{3}}", str(math.comb(a + 10, 3)), None
    if kind == 3:
        return f"\\int_0^{{{a}}} x\\,dx", str(a * a / 2), None
    if kind == 4:
        return f"{a}\\phantom{{\\text{{ or }} {b + k}}}", str(b + k), None  # hidden hedge
    if kind == 5:
        return f"{a}\\textcolor{{white}}{{\\text{{ or }} {b + k}}}", str(b + k), None
    if kind == 6:
        return f"{a} % {b + k}\n", str(b + k), None
    if kind == 7:
        return f"{a}\u200b{b + k}", str(a), None  # shows a digit string, not a
    if kind == 8:
        return ", ".join(str(a + j) for j in range(16)) + f", {k}", str(a), None  # a hedge of 17 values
    if kind == 9:
        return f"{a} = {b + k} = {a}", str(a), None  # a false chain
    if kind == 10:
        return "(" * 120 + str(a) + ")" * 120, str(a + k), None  # deep brackets
    if kind == 11:
        return f"x^{{{a}}} + \\sin(x)^{{{b}}} + {k}", f"\\cos(x)^{{{b}}} + x^{{{a}}}", None
    if kind == 12:
        return f"{a}x + {b}y + {k}z", f"{b}y + {a}x + {k + 1}z", None
    if kind == 13:
        return f"\\ge {a + k}", str(a + k), None  # a relation for a value
    if kind == 14:
        return f"{a} \\text{{ or }} {a + k}", str(a), None
    if kind == 15:
        return f"\\frac{{{a}}}{{{b}}} \\approx {a / b + 1:.3f}", f"\\frac{{{a}}}{{{b}}}", None  # a false rounding
    if kind == 16:
        return f"\\sqrt{{{a * a}}}", str(a), None  # a root restated
    if kind == 17:  # the slow kind: a trigonometric identity and a large power
        return (f"\\sin^2 x + \\cos^2 x + (x+1)^{{{60 + k % 40}}}", f"1 + (x+1)^{{{60 + k % 40}}} + {k}", None)
    if kind == 18:
        return "\\sqrt{" * 60 + str(a) + "}" * 60, str(a + k), None
    return f"{a}!", str(math.factorial(a)), None  # a factorial restated


def make_hostile(seed: int = 0, n: int = 2000, tokens: int = 2048) -> list:
    """``n`` distinct hostile responses of about ``tokens`` tokens (4 characters each) of reasoning and
    one boxed hostile answer: ``(response, ground_truth, extra_info)`` items."""
    rng = np.random.default_rng(seed + 1)
    items = []
    for k in range(n):
        answer, gt, extra = _hostile_answer(rng, k)
        think = []
        while sum(map(len, think)) < 4 * tokens:
            think.append(_reasoning(rng))
        items.append((f"<think>{' '.join(think)[: 4 * tokens]}</think>\n\nSo the answer is $\\boxed{{{answer}}}$.",
                      gt, extra))
    return items


def mixed_in(mix: list, extra: list) -> list:
    """``mix`` with the ``extra`` items spread through it (at 1/4, 2/4, ... of its length), so they run
    alongside the others, as in a real step, and not after them."""
    out, step = list(mix), len(mix) // (len(extra) + 1)
    for k, item in reversed(list(enumerate(extra, 1))):
        out.insert(k * step, item)
    return out


def grade_all(compute_score, items, threads: int, latencies: list | None = None) -> tuple[list[float], float]:
    """Grades of ``items`` from ``threads`` threads and the wall time; each response's own wall time
    (from its call to its grade, as one reward thread sees it) goes to ``latencies``."""
    def one(item):
        t = time.perf_counter()
        out = compute_score(data_source="virl39k", solution_str=item[0], ground_truth=item[1], extra_info=item[2])
        if latencies is not None:
            latencies.append(time.perf_counter() - t)
        return out

    t0 = time.perf_counter()
    if threads == 1:
        out = [one(it) for it in items]
    else:
        with futures.ThreadPoolExecutor(threads) as ex:
            out = list(ex.map(one, items))
    return [r["acc"] for r in out], time.perf_counter() - t0


def load_old_scorer(ref: str):
    """``compute_score`` of ``verl_mupo/scoring.py`` at git revision ``ref``, importable as
    ``old_scoring`` (its folder goes on ``sys.path``, which spawned workers inherit: an old pool that
    pickles its functions by module name finds them, so its workers start)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:verl_mupo/scoring.py"], check=True,
                         capture_output=True, text=True).stdout
    folder = tempfile.mkdtemp()
    path = Path(folder) / "old_scoring.py"
    path.write_text(src)
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("old_scoring", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_scoring"] = mod
    spec.loader.exec_module(mod)
    return mod.compute_score


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--workers", type=int, default=None, help="VERL_MUPO_GRADER_WORKERS (default: its default)")
    p.add_argument("--timeout-s", type=float, default=None, help="VERL_MUPO_GRADER_TIMEOUT_S")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="runs of each kind; the median wall time is shown")
    p.add_argument("--old", default=None, help="also run the scorer of this git revision")
    p.add_argument("--hostile", type=int, default=2000, help="hostile responses in the hostile-mix row (0: none)")
    args = p.parse_args(argv)

    from verl_mupo.grading import pool
    from verl_mupo.scoring import compute_score

    mix, needs_symbolic = make_mix(args.seed)
    items = mixed_in(mix, PATHOLOGICAL)
    print(f"# {len(mix)} responses + {len(PATHOLOGICAL)} pathological; {needs_symbolic} "
          f"({100 * needs_symbolic / len(mix):.0f}%) need a symbolic comparison; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows, reference = [], None
    for name, threads, warm in (("reference", 1, True), ("warm", args.threads, True), ("cold", args.threads, False)):
        runs = []
        for _ in range(args.repeat):
            s = pool.configure(workers=args.workers, timeout_s=args.timeout_s)
            if warm:
                pool.warm_up()
            before, cpu0, lat = pool.stats(), _cpu() + _started_workers_cpu(pool), []
            grades, wall = grade_all(compute_score, items, threads, lat)
            after = pool.stats()
            _drain(pool)
            pool.shutdown()  # workers end and are waited for: their CPU time counts below
            reference = grades if reference is None else reference
            runs.append((wall, _cpu() - cpu0, grades, before, after, lat))
        wall, cpu, grades, before, after, lat = sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # the median run
        lost = max(sum(1 for a, b in zip(reference, r[2]) if a == 1.0 and b == 0.0) for r in runs)
        rows.append((f"new, {name}", threads, s.workers, s.timeout_s, wall, cpu,
                     f"{_delta(before, after, 'worker_checks', 'in_process_checks')} "
                     f"(+{_delta(before, after, 'cache_hits', 'joined_checks')})",
                     after.get("timeouts", 0) - before.get("timeouts", 0), lost,
                     all(r[2] == reference for r in runs), max(lat), sum(t > 1.0 for t in lat)))
    if args.hostile:
        hostile = make_hostile(args.seed, args.hostile)
        runs = []
        for _ in range(args.repeat):
            s = pool.configure(workers=args.workers, timeout_s=args.timeout_s)
            pool.warm_up()
            before, cpu0, lat = pool.stats(), _cpu() + _started_workers_cpu(pool), []
            grades, wall = grade_all(compute_score, hostile, args.threads, lat)
            after = pool.stats()
            _drain(pool)
            pool.shutdown()
            runs.append((wall, _cpu() - cpu0, grades, before, after, lat))
        wall, cpu, grades, before, after, lat = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        rows.append((f"new, hostile mix ({len(hostile):,}, {sum(grades):.0f} paid)", args.threads, s.workers,
                     s.timeout_s, wall, cpu,
                     f"{_delta(before, after, 'worker_checks', 'in_process_checks')} "
                     f"(+{_delta(before, after, 'cache_hits', 'joined_checks')})",
                     after.get("timeouts", 0) - before.get("timeouts", 0), "-", "-", max(lat),
                     sum(t > 1.0 for t in lat)))
    if args.old:
        old = load_old_scorer(args.old)
        old_items = mixed_in(mix, PATHOLOGICAL[2:])
        ref_old = None
        for threads in (1, args.threads):
            cpu0 = _cpu()
            grades, wall = grade_all(old, old_items, threads)
            ref_old = grades if ref_old is None else ref_old
            lost = sum(1 for a, b in zip(ref_old, grades) if a == 1.0 and b == 0.0)
            rows.append((f"old {args.old} ({len(old_items):,} items)", threads, 1, 5.0, wall, _cpu() - cpu0, "-",
                         "-", lost, grades == ref_old, math.nan, "-"))
    print("| scorer, run | threads | workers | budget s | wall s | CPU s | symbolic checks (+ from cache) | "
          "timeouts | grades lost vs its single-thread run | identical | slowest response s | responses > 1 s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        same = r[9] if isinstance(r[9], str) else ("yes" if r[9] else "no")
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:g} | {r[4]:.2f} | {r[5]:.2f} | {r[6]} | {r[7]} | {r[8]} | "
              f"{same} | {r[10]:.2f} | {r[11]} |")
    return 0


def _drain(pool) -> None:
    """Wait for checks still running past their response's deadline (they finish in the background),
    so that every worker is idle when the pool shuts down and its CPU time is counted."""
    p = pool._pool
    if p is not None:
        for _ in range(p.size):
            p._slots.acquire()
        for _ in range(p.size):
            p._slots.release()


def _delta(before: dict, after: dict, *keys: str) -> int:
    return sum(after.get(k, 0) - before.get(k, 0) for k in keys)


def _cpu() -> float:
    """CPU seconds of this process and of its ended (waited-for) children: the workers."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _started_workers_cpu(pool) -> float:
    """CPU seconds the workers started before a run have used so far (their start: importing sympy
    and math-verify); counted in :func:`_cpu` once they end, so subtracted from a warm run's CPU."""
    p = pool._pool
    return 0.0 if p is None else sum(w.cpu_seconds() or 0.0 for w in p._idle)


if __name__ == "__main__":
    raise SystemExit(main())
