"""acc@k from verl validation dumps that the test writes in verl's JSONL layout."""

import json
import subprocess
import sys

import pytest

from verl_mupo.evaluation import acc_at_k, load_dump, report


def test_unbiased_estimator_by_hand():
    assert acc_at_k(4, 1, 4) == 1.0  # verl's bootstrap best@4 reads 0.684 here
    assert acc_at_k(4, 1, 1) == 0.25
    assert acc_at_k(8, 2, 4) == pytest.approx(1 - 15 / 70)  # C(6,4)/C(8,4)
    assert acc_at_k(5, 0, 4) == 0.0
    with pytest.raises(ValueError, match="validation n"):
        acc_at_k(2, 1, 4)


def _write_dump(path, rows_by_bench):
    with open(path, "w") as f:
        for bench, prompts in rows_by_bench.items():
            for p, accs in enumerate(prompts):
                for s, a in enumerate(accs):
                    f.write(json.dumps({"input": f"q{p}", "output": "...", "gts": "1", "score": a, "step": 10,
                                        "acc": a, "data_source": bench, "uid": f"{bench}-{p}_{s}_0"}) + "\n")


def test_report_per_benchmark_and_group_averages(tmp_path):
    _write_dump(tmp_path / "10.jsonl", {
        "MathVista_MINI": [[1, 0, 0, 0], [0, 0, 0, 0]],
        "MathVerse_MINI_Vision_Only": [[1, 1, 1, 1]],
        "MMStar": [[0, 1, 0, 0], [1, 1, 0, 0]],
    })
    _write_dump(tmp_path / "5.jsonl", {"MMStar": [[0, 0, 0, 0]]})
    table = report(load_dump(tmp_path), ks=(1, 4))  # newest step (10) is read
    assert table["MathVista_MINI"]["acc@1"] == pytest.approx(0.125)
    assert table["MathVista_MINI"]["acc@4"] == pytest.approx(0.5)
    assert table["MMStar"]["acc@1"] == pytest.approx(0.375) and table["MMStar"]["acc@4"] == 1.0
    assert table["math avg"]["acc@1"] == pytest.approx((0.125 + 1.0) / 2)
    assert table["general avg"]["acc@4"] == 1.0
    out = subprocess.run([sys.executable, "-m", "verl_mupo.evaluation", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0 and "MathVista_MINI" in out.stdout and "12.50" in out.stdout


def test_missing_acc_is_explained(tmp_path):
    (tmp_path / "1.jsonl").write_text(json.dumps({"uid": "a_0_0", "score": 1.0}) + "\n")
    with pytest.raises(KeyError, match="reward_manager.name=mupo"):
        report(load_dump(tmp_path))
