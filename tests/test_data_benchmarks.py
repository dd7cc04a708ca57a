"""Benchmark conversion on fixtures shaped like the datasets' cards (HF image structs), then the
converted sets used by the ViRL39K contamination guard and scored by the scorer."""

import io
import subprocess
import sys

import numpy as np
import pandas as pd
from PIL import Image

from verl_mupo.data.benchmarks import convert
from verl_mupo.data.virl39k import INSTRUCTION
from verl_mupo.scoring import compute_score


def _png(seed):
    arr = (np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).resize((32, 32)).save(buf, format="PNG")
    return buf.getvalue()


def test_mathvista_multiple_choice_and_free_form(tmp_path):
    df = pd.DataFrame({
        "pid": ["1", "2"], "question": ["Which is larger?", "What is the area?"], "image": ["images/1.jpg", "images/2.jpg"],
        "decoded_image": [{"bytes": _png(1), "path": "1.jpg"}, {"bytes": _png(2), "path": "2.jpg"}],
        "choices": [["3 cm", "5 cm"], None], "unit": [None, "cm^2"], "precision": [None, 1.0],
        "answer": ["5 cm", "12.5"], "question_type": ["multi_choice", "free_form"], "answer_type": ["text", "float"],
        "metadata": [{"category": "a"}, {"category": "b"}], "query": ["q1", "q2"],
    })
    df.to_parquet(tmp_path / "testmini-0.parquet")
    counts = convert("mathvista", [str(tmp_path / "testmini-*.parquet")], tmp_path / "out.parquet")
    assert counts == {"rows_in": 2, "rows_out": 2, "with_image": 2}
    out = pd.read_parquet(tmp_path / "out.parquet")
    mc = out.iloc[0]
    assert mc["data_source"] == "MathVista" and mc["reward_model"]["ground_truth"] == "B"
    assert "A. 3 cm\nB. 5 cm" in mc["prompt"][0]["content"] and mc["prompt"][0]["content"].startswith("<image>")
    assert mc["prompt"][0]["content"].endswith(INSTRUCTION) and mc["images"][0]["bytes"] == _png(1)
    assert compute_score("MathVista", "<think>x</think> \\boxed{5 cm}", mc["reward_model"]["ground_truth"],
                         {"options": list(mc["extra_info"]["options"])})["acc"] == 1
    assert out.iloc[1]["reward_model"]["ground_truth"] == "12.5"


def test_mathverse_vision_only_and_mmstar(tmp_path):
    pd.DataFrame({
        "sample_index": ["1", "2"], "problem_index": ["1", "1"], "problem_version": ["Vision Only", "Text Lite"],
        "question": ["", "Find x."], "image": [{"bytes": _png(3), "path": None}] * 2, "answer": ["A", "A"],
        "question_type": ["multi-choice"] * 2, "metadata": [{"split": "testmini"}] * 2,
        "query_wo": ["Answer the question in the image.", "Find x."], "query_cot": ["", ""],
    }).to_parquet(tmp_path / "mv.parquet")
    assert convert("mathverse", [str(tmp_path / "mv.parquet")], tmp_path / "mv_out.parquet")["rows_out"] == 1
    pd.DataFrame({"index": [0], "question": ["Which? Options: A: x, B: y"], "image": [{"bytes": _png(4), "path": None}],
                  "answer": ["B"], "category": ["coarse perception"], "l2_category": ["x"], "meta_info": [{"source": "s"}]}
                 ).to_parquet(tmp_path / "mmstar.parquet")
    convert("mmstar", [str(tmp_path / "mmstar.parquet")], tmp_path / "mmstar_out.parquet")
    row = pd.read_parquet(tmp_path / "mmstar_out.parquet").iloc[0]
    assert row["data_source"] == "MMStar" and row["ability"] == "coarse perception" and row["reward_model"]["ground_truth"] == "B"


def test_generic_cli(tmp_path):
    pd.DataFrame({"q": ["Is it red?"], "a": ["Yes"], "img": [{"bytes": _png(5), "path": None}]}).to_parquet(tmp_path / "h.parquet")
    out = subprocess.run([sys.executable, "-m", "verl_mupo.data.benchmarks", "generic", str(tmp_path / "h.parquet"),
                          "--out", str(tmp_path / "eval" / "hallusionbench.parquet"), "--name", "HallusionBench",
                          "--question-col", "q", "--answer-col", "a", "--image-col", "img"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    row = pd.read_parquet(tmp_path / "eval" / "hallusionbench.parquet").iloc[0]
    assert row["data_source"] == "HallusionBench" and row["prompt"][0]["content"].startswith("<image>Is it red?")
