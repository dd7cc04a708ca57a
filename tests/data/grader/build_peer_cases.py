"""Build the peer-suite data files (``peer_math_verify.jsonl``, ``peer_mathruler.jsonl.gz``) from git mirrors.

Only data is taken from the peers (their labelled cases), never code: math-verify's parametrized
``(gold, pred, expected)`` test cases are read with :mod:`ast`; MathRuler has no test suite, so its
suite is the labelled data it checks itself against (``mathruler eval`` on a file without
predictions grades each reference solution's last box against the answer): MATH-500 and GSM8K test
reference solutions (expected right) and, as negatives we add, each MATH-500 answer against the
next problem's reference solution (expected wrong; pairs with equal answers left out).

For each case the peers' own verdicts are recorded as they stand in the installed math-verify
and mathruler (context for docs/grader.md), and the answer each side boxes for our grader:
the last ``\\boxed{}`` when there is one, else the answer math-verify's extraction finds in the
free text (our grader needs a box; these cases measure the comparison, see ``answer_source``).

    python tests/data/grader/build_peer_cases.py /work/.mirror/huggingface+Math-Verify/repo \\
        /work/.mirror/hiyouga+MathRuler/repo

(the paths are ``git`` directories as the ``fetch`` tool leaves them; HEAD is used). A third argument
writes the files to another folder (to check that the committed files are what this script builds).
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MV_FILES = ["tests/test_all.py", "tests/test_boxed.py", "tests/test_numina_cases.py", "tests/test_open_thoughts.py",
            "tests/test_strict.py", "tests/test_yujianll.py"]


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


def _value(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return eval(compile(ast.Expression(node), "<case>", "eval"), {"math": math})  # f-strings with math


def _call_params(func: ast.FunctionDef) -> dict:
    """Keyword arguments of the compare_strings(...) / verify(...) call in a test body."""
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "compare_strings":
            out = {}
            for kw in node.keywords:
                out[kw.arg] = ("arg", kw.value.id) if isinstance(kw.value, ast.Name) else ("const", _value(kw.value))
            return out
    return {"_direct_verify": ("const", True)}


def math_verify_cases(repo: str) -> list[dict]:
    cases = []
    for path in MV_FILES:
        tree = ast.parse(git(repo, "show", f"HEAD:{path}"))
        for func in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
            for dec in func.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "parametrize"):
                    continue
                names = [n.strip() for n in _value(dec.args[0]).split(",")]
                params = _call_params(func)
                for elt in dec.args[1].elts:
                    row = dict(zip(names, _value(elt)))
                    expected = row.get("expected", row.get("result"))
                    call = {k: (row[v] if kind == "arg" else v) for k, (kind, v) in params.items()}
                    cases.append({"suite": "math-verify", "file": path, "test": func.name, "gold": row["gold"],
                                  "pred": row["pred"], "expected": int(expected), "call": call,
                                  "line": elt.lineno})
    return cases


def _mv_configs(match_types):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    out = []
    for t in match_types or ["latex", "expr"]:
        out.append(LatexExtractionConfig(boxed_match_priority=0) if t == "latex" else ExprExtractionConfig())
    return out


def _answer(text: str, match_types) -> tuple[str, str]:
    """What our grader is given for one side: (answer, source)."""
    from math_verify import parse

    from verl_mupo.grading.boxed import last_boxed

    boxed = last_boxed(text)
    if boxed is not None:
        return boxed, "boxed"
    found = parse(text, _mv_configs(match_types), parsing_timeout=None)
    if len(found) >= 2 and isinstance(found[1], str) and found[1].strip():
        return found[1], "math-verify extraction"
    return text.strip().strip("$").strip(), "text"


def _peer_verdicts(case: dict) -> dict:
    from math_verify import parse, verify
    from mathruler.grader import grade_answer

    call = case.get("call", {})
    if "call" not in case:  # MathRuler's bare answers: math-verify reads math between $ signs
        gold = parse("$" + case["gold"] + "$", parsing_timeout=None)
        mv = verify(gold, parse(case["pred"], parsing_timeout=None), timeout_seconds=None)
    elif call.get("_direct_verify"):
        mv = verify(parse(case["gold"], parsing_timeout=None), parse(case["pred"], parsing_timeout=None),
                    timeout_seconds=None)
    else:
        cfg = _mv_configs(call.get("match_types"))
        mv = verify(parse(case["gold"], cfg, parsing_timeout=None), parse(case["pred"], cfg, parsing_timeout=None),
                    float_rounding=call.get("precision", 6), strict=call.get("strict", True),
                    allow_set_relation_comp=call.get("allow_set_relation_comp", False), timeout_seconds=None)
    try:
        mr = grade_answer(case["pred_answer"], case["gold_answer"])
    except Exception:  # noqa: BLE001
        mr = False
    return {"math_verify": int(bool(mv)), "mathruler": int(bool(mr))}


def _tail(solution: str) -> str:
    """The reference solution around its last box (the answer is all that is graded): from 40
    characters before ``\\boxed`` to 40 after the box's content."""
    from verl_mupo.grading.boxed import last_boxed

    k, answer = solution.rfind("\\boxed"), last_boxed(solution) or ""
    return solution if k < 0 else solution[max(0, k - 40): k + len("\\boxed{}") + len(answer) + 40]


def _bare(answer: str) -> str:
    return re.sub(r"^[a-z]=", "", "".join(answer.split()))


def mathruler_cases(repo: str) -> list[dict]:
    cases = []
    math500 = [json.loads(x) for x in git(repo, "show", "HEAD:data/math_splits/test.jsonl").splitlines() if x.strip()]
    gsm8k = [json.loads(x) for x in git(repo, "show", "HEAD:data/gsm8k_splits/test.jsonl").splitlines() if x.strip()]
    for name, rows in (("data/math_splits/test.jsonl", math500), ("data/gsm8k_splits/test.jsonl", gsm8k)):
        for i, row in enumerate(rows):
            cases.append({"suite": "mathruler", "file": name, "test": "solution", "line": i + 1,
                          "gold": row["answer"], "pred": _tail(row["solution"]), "expected": 1})
    n = len(math500)
    for i, row in enumerate(math500):
        other = math500[(i + 1) % n]
        if _bare(row["answer"]) == _bare(other["answer"]):
            continue  # the same answer (x=5 and 5 included): not a negative
        cases.append({"suite": "mathruler", "file": "data/math_splits/test.jsonl", "line": i + 1,
                      "test": "next solution", "gold": row["answer"],
                      "pred": _tail(other["solution"]), "expected": 0})
    return cases


def main(mv_repo: str, mr_repo: str, out_dir: str | None = None) -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    import importlib.metadata as md

    for cases, repo, out, license_ in ((math_verify_cases(mv_repo), mv_repo, "peer_math_verify.jsonl", "Apache-2.0"),
                                        (mathruler_cases(mr_repo), mr_repo, "peer_mathruler.jsonl", "Apache-2.0")):
        commit = git(repo, "rev-parse", "HEAD").strip()
        meta = {"_meta": True, "repository": "huggingface/Math-Verify" if "Math-Verify" in repo else "hiyouga/MathRuler",
                "commit": commit, "license": license_, "cases": len(cases),
                "peer_versions": {"math-verify": md.version("math-verify"), "mathruler": md.version("mathruler")}}
        folder = Path(out_dir) if out_dir else HERE
        with (gzip.open(folder / (out + ".gz"), "wt", encoding="utf-8") if len(cases) > 1000
              else open(folder / out, "w", encoding="utf-8")) as f:
            f.write(json.dumps(meta) + "\n")
            for case in cases:
                if case.pop("suite") == "math-verify":
                    mt = case.get("call", {}).get("match_types")
                    case["gold_answer"], gold_source = _answer(case["gold"], mt)
                    case["pred_answer"], pred_source = _answer(case["pred"], mt)
                    case["sources"] = [gold_source, pred_source]
                else:  # MathRuler's answers are bare, its solutions boxed: graded as responses
                    case["gold_answer"], case["pred_answer"] = case["gold"], _answer(case["pred"], None)[0]
                case["peers"] = _peer_verdicts(case)
                if "sources" not in case:
                    del case["gold_answer"], case["pred_answer"]
                f.write(json.dumps(case, ensure_ascii=False) + "\n")
        print(out, len(cases))


if __name__ == "__main__":
    main(*sys.argv[1:4])
