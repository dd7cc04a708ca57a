"""ViRL39K conversion on a fixture with the release's exact columns and types (small PIL images in
a real zip): repairs, the contamination guard, rejected rows listed by qid, one-line errors with exit
code 2, output sets that are never overwritten unasked nor left stale, and verl's RLHFDataset."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from data_fixtures import NOT_AN_IMAGE, assert_error_line, png, release, release_row
from PIL import Image

from verl_mupo.data import virl39k
from verl_mupo.data.rows import INSTRUCTION
from verl_mupo.data.safe_io import OutputSet
from verl_mupo.data.virl39k import convert, dhash, fix_placeholders, hamming, min_hamming, strip_outer_boxed

GOOD_ROWS = [
    release_row("q0", "<image>What is the area?", "\\boxed{12}", ["images/img0.png"], "Geometry", "MM-Eureka", 0.5, 0.25),
    release_row("q1", "How many apples?", "\\boxed{3}", ["images/img1.png"], "Counting", "LLaVA-OneVision", 0.25, 0.95),
    release_row("q2", "<image><image>Compare the two.", "\\boxed{A}", ["images/img2.png"], "Spatial Reasoning",
                "R1-OneVision", -1, -1),
    release_row("q3", "What is 2+2?", "\\boxed{4}", [], "Math", "DeepScaleR", 1.0, 1.0),
    release_row("q4", "<image>Which option? A. 1 B. 2", "\\boxed{B}", ["images/img4.png"], "Chart", "M3CoT", 0.75, 0.5),
    release_row("q5", "<image>Is it red?", "\\boxed{Yes}", ["images/img5.png"], "Color", "MV-Math", 0.5, 0.125),
]
BAD_ROWS = [
    release_row("q6", "<image>Unknown image", "\\boxed{1}", ["images/missing.png"]),
    release_row("q7", "<image>No answer at all", None, ["images/img0.png"]),
    release_row("q8", "<image>A NaN turned into text upstream", "nan", ["images/img0.png"]),
    release_row("q9", "<image>An empty box", "\\boxed{}", ["images/img0.png"]),
    release_row("q10", "<image>", "\\boxed{2}", ["images/img0.png"]),
    release_row("q11", None, "\\boxed{2}", ["images/img0.png"]),
    release_row("q12", "<image>Broken picture", "\\boxed{2}", ["images/broken.png"]),
]
IMAGES = {f"images/img{k}.png": png(k) for k in range(6)} | {"images/broken.png": NOT_AN_IMAGE}


@pytest.fixture()
def rel(tmp_path):
    return release(tmp_path / "release", GOOD_ROWS + BAD_ROWS, IMAGES)


@pytest.fixture()
def clean_rel(tmp_path):
    return release(tmp_path / "clean", GOOD_ROWS, IMAGES)


@pytest.fixture()
def eval_dir(tmp_path):
    d = tmp_path / "eval"
    d.mkdir()
    # one benchmark item repeats training row 5's question text; another shares row 4's image, re-encoded larger
    im = Image.open(io.BytesIO(png(4))).resize((64, 64))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=90)
    pd.DataFrame([
        {"data_source": "HallusionBench", "prompt": [{"role": "user", "content": "<image> Is it  RED? " + INSTRUCTION}],
         "images": [{"bytes": png(100)}], "reward_model": {"ground_truth": "Yes"}},
        {"data_source": "MathVista", "prompt": [{"role": "user", "content": "<image> a different question"}],
         "images": [{"bytes": buf.getvalue()}], "reward_model": {"ground_truth": "B"}},
    ]).to_parquet(d / "bench.parquet")
    return d


def _cli(capsys, *argv):
    code = virl39k.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _qids(path):
    return set(pd.read_parquet(path)["extra_info"].map(lambda e: e["id"]))


def test_helpers():
    assert strip_outer_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}" and strip_outer_boxed("\\boxed{A}") == "A"
    assert strip_outer_boxed("\\boxed{a} and \\boxed{b}") == "\\boxed{a} and \\boxed{b}"
    assert fix_placeholders("Q", 2) == ("<image><image>Q", "added")
    assert fix_placeholders("<image><image>Q<image>", 1) == ("<image>Q", "removed")
    assert hamming(dhash(png(3)), dhash(png(3))) == 0 and hamming(dhash(png(3)), dhash(png(9))) > 8
    hashes = [dhash(png(k)) for k in range(20)]
    arr = np.array(hashes, dtype=np.uint64)
    for h in [dhash(png(k)) for k in range(15, 30)]:
        assert min_hamming(h, arr) == min(hamming(h, e) for e in hashes)


def test_generic_eval_questions_do_not_drop_training_rows(tmp_path):
    """Five vision-only items that share one instruction text are not an item to match on; their
    images still are."""
    generic = "<image>According to the question shown in the image, answer."
    rel = release(tmp_path / "r", [release_row("g0", generic, "\\boxed{1}", ["images/img0.png"]),
                                   release_row("g1", generic, "\\boxed{2}", ["images/img1.png"])], IMAGES)
    d = tmp_path / "eval"
    d.mkdir()
    pd.DataFrame([{"prompt": [{"role": "user", "content": f"{generic} {INSTRUCTION}"}],
                   "images": [{"bytes": png(200 + k if k else 1)}]} for k in range(5)]).to_parquet(d / "mathverse.parquet")
    counts = convert(rel, tmp_path / "out", eval_dir=d)
    assert counts["eval_generic_questions_ignored"] == 1 and "dropped_eval_question_match" not in counts
    assert counts["dropped_eval_image_match"] == 1 and _qids(tmp_path / "out" / "train.parquet") == {"g0"}


def test_convert_counts_repairs_and_contamination(clean_rel, eval_dir, tmp_path):
    counts = convert(clean_rel, tmp_path / "out", eval_dir=eval_dir)
    assert counts["rows_in"] == 6 and counts["rows_rejected"] == 0
    assert counts["dropped_eval_question_match"] == 1  # q5
    assert counts["dropped_eval_image_match"] == 1  # q4 (same picture, re-encoded)
    assert counts["repaired_placeholders_added"] == 1  # q1 had no placeholder
    assert counts["repaired_placeholders_removed"] == 1  # q2 had two for one image
    df = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert len(df) == counts["rows_train"] == 4 and counts["rows_holdout"] == 0
    for _, row in df.iterrows():
        content = row["prompt"][0]["content"]
        assert content.count("<image>") == len(row["images"]) and content.endswith(INSTRUCTION)
        assert row["data_source"] == "virl39k" and not row["reward_model"]["ground_truth"].startswith("\\boxed")
    first = df[df["extra_info"].map(lambda e: e["id"]) == "q0"].iloc[0]
    assert first["reward_model"]["ground_truth"] == "12" and first["images"][0]["bytes"] == png(0)
    assert json.loads(first["extra_info"]["meta"])["pass_rate_7b_base"] == 0.25 and first["ability"] == "Geometry"
    assert first["extra_info"]["answer_type"] == "number" and first["extra_info"]["scoring"] == "rule"
    assert not (tmp_path / "out" / "holdout.parquet").exists()


def test_bad_rows_are_rejected_and_listed_by_qid(rel, tmp_path, capsys):
    """Before: q7 was kept with ground truth 'None', q8 with 'nan' (which the grader accepts), q10/q11
    with no question, q12 with bytes no processor can open."""
    code, out, err = _cli(capsys, "--release", rel, "--out", tmp_path / "out")
    assert code == 0, err
    report = json.loads(out)
    assert report["rejected"] == {
        "bad_image": {"count": 1, "ids": ["q12"]},
        "missing_answer": {"count": 3, "ids": ["q7", "q8", "q9"]},
        "missing_image": {"count": 1, "ids": ["q6"]},
        "missing_question": {"count": 2, "ids": ["q10", "q11"]},
    }
    assert report["rows_rejected"] == 7 and report["rows_train"] == 6
    assert _qids(tmp_path / "out" / "train.parquet") == {f"q{k}" for k in range(6)}
    gts = set(pd.read_parquet(tmp_path / "out" / "train.parquet")["reward_model"].map(lambda r: r["ground_truth"]))
    assert not gts & {"nan", "None", ""}
    lines = [json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(["q6", "q7", "q8", "q9", "q10", "q11", "q12"])
    assert next(x for x in lines if x["id"] == "q12")["detail"].startswith("images/broken.png: not an image")


def test_options_filter_and_holdout(clean_rel, tmp_path):
    counts = convert(clean_rel, tmp_path / "o2", drop_text_only=True, max_pass_rate=0.9, holdout=0.5)
    assert counts["dropped_text_only"] == 1 and counts["dropped_pass_rate"] == 1  # q3 and q1
    assert counts["rows_train"] + counts["rows_holdout"] == 4 and counts["rows_holdout"] == 2
    hold = pd.read_parquet(tmp_path / "o2" / "holdout.parquet")
    assert hold["extra_info"].map(lambda e: e["split"]).eq("holdout").all()
    assert not _qids(tmp_path / "o2" / "holdout.parquet") & _qids(tmp_path / "o2" / "train.parquet")


def test_keep_contaminated_still_reports(clean_rel, eval_dir, tmp_path):
    counts = convert(clean_rel, tmp_path / "o3", eval_dir=eval_dir, dedupe=False)
    assert counts["kept_eval_question_match"] == 1 and counts["rows_train"] == 6


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "1.5", "nan"])
def test_holdout_outside_the_open_unit_interval_is_anassert_error_line(clean_rel, tmp_path, capsys, value):
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o", "--holdout", value)
    assert_error_line(code, err, "--holdout", "(0, 1)")
    assert not (tmp_path / "o").exists()


def test_rerun_refuses_an_existing_output_and_overwrite_leaves_no_stale_holdout(clean_rel, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(capsys, "--release", clean_rel, "--out", out, "--holdout", "0.5")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"train.parquet", "holdout.parquet", "rejected.jsonl"}
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", out)
    assert_error_line(code, err, "exists", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    # a rerun without a holdout replaces the set: no holdout.parquet of the earlier run is left to overlap train
    code, out_text, err = _cli(capsys, "--release", clean_rel, "--out", out, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["rejected.jsonl", "train.parquet"]
    assert _qids(out / "train.parquet") == {f"q{k}" for k in range(6)}
    assert "holdout" not in json.loads(out_text)["outputs"]


def test_a_crash_leaves_no_half_written_or_mixed_set(clean_rel, tmp_path, monkeypatch):
    out = tmp_path / "out"
    convert(clean_rel, out, holdout=0.5)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(self, path, text):
        raise OSError("disk full")

    monkeypatch.setattr(OutputSet, "write_text", fail)
    with pytest.raises(OSError, match="disk full"):
        convert(clean_rel, out, overwrite=True)  # train.parquet was written (to a temp file) before the crash
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temp file, no partial replacement


def test_output_must_not_be_the_eval_dir(clean_rel, eval_dir, tmp_path, capsys):
    for extra in ([], ["--overwrite"]):
        code, _, err = _cli(capsys, "--release", clean_rel, "--out", eval_dir, "--eval-dir", eval_dir, *extra)
        assert_error_line(code, err, str(eval_dir), "--eval-dir")
    assert sorted(p.name for p in eval_dir.iterdir()) == ["bench.parquet"]


def test_eval_dir_with_a_raw_download_is_anassert_error_line(clean_rel, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame({"question": ["q"], "answer": ["a"]}).to_parquet(raw / "MathVista.parquet")
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o", "--eval-dir", raw)
    assert_error_line(code, err, "MathVista.parquet", "missing columns ['prompt']", "verl_mupo.data.benchmarks")


def test_corrupt_zip_and_parquet_and_missing_columns(clean_rel, tmp_path, capsys):
    zip_path = clean_rel / "images.zip"
    good_zip = zip_path.read_bytes()
    zip_path.write_bytes(good_zip[: len(good_zip) // 2])  # a truncated download
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o1")
    assert_error_line(code, err, str(zip_path), "not a readable zip archive")
    zip_path.write_bytes(good_zip)

    table = clean_rel / "39Krelease.parquet"
    good_table = table.read_bytes()
    table.write_bytes(good_table[:100])
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o2")
    assert_error_line(code, err, str(table), "not a readable parquet file")

    pd.read_parquet(io.BytesIO(good_table)).drop(columns=["answer", "qid"]).to_parquet(table)
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o3")
    assert_error_line(code, err, str(table), "missing columns ['answer', 'qid']", "ViRL39K")

    code, _, err = _cli(capsys, "--release", tmp_path / "nowhere", "--out", tmp_path / "o4")
    assert_error_line(code, err, "nowhere", "not a folder")
    assert not any((tmp_path / f"o{k}").exists() for k in range(1, 5))
    # the same through a real subprocess
    proc = subprocess.run([sys.executable, "-m", "verl_mupo.data.virl39k", "--release", str(clean_rel), "--out",
                           str(tmp_path / "o5")], capture_output=True, text=True)
    assert_error_line(proc.returncode, proc.stderr, str(table), "missing columns")


def test_output_loads_in_verl_rlhf_dataset(clean_rel, tmp_path):
    """verl's RLHFDataset reads train and holdout together and tokenizes the chat prompt (text side;
    the image side runs in the CPU smoke test, tests/test_e2e_cpu.py)."""
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_mupo.cpu.assets import build_tokenizer

    convert(clean_rel, tmp_path / "o4", holdout=0.2)
    build_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    cfg = OmegaConf.create({"max_prompt_length": 4096, "filter_overlong_prompts": False, "truncation": "error",
                            "image_key": "__no_images__", "cache_dir": str(tmp_path / "cache")})
    files = [str(tmp_path / "o4" / "train.parquet"), str(tmp_path / "o4" / "holdout.parquet")]
    ds = RLHFDataset(data_files=files, tokenizer=tok, config=cfg, processor=None)
    assert len(ds) == 6
    item = ds[0]
    assert item["data_source"] == "virl39k" and item["reward_model"]["ground_truth"]
