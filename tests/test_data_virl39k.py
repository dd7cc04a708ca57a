"""ViRL39K conversion on a fixture with the release's exact columns and types (small PIL images in
a real zip): repairs, the contamination guard, rejected rows listed by qid, one-line errors with exit
code 2, output sets that are never overwritten unasked nor left stale, and verl's RLHFDataset."""

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_fixtures import NOT_AN_IMAGE, assert_error_line, png, release, release_row, unwritable_folder
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


def test_damaged_zip_member_names_the_member(tmp_path, capsys):
    rel = release(tmp_path / "r", GOOD_ROWS[:1], {"images/img0.png": png(0)})
    raw = bytearray((rel / "images.zip").read_bytes())
    start = raw.find(png(0)[16:48])  # inside the member's data: a bit flip the CRC check catches
    raw[start] ^= 0xFF
    (rel / "images.zip").write_bytes(bytes(raw))
    code, _, err = _cli(capsys, "--release", rel, "--out", tmp_path / "o")
    assert_error_line(code, err, "images.zip:images/img0.png", "damaged zip member")
    assert not (tmp_path / "o").exists()


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


# ------------------------------------------------------------------ review fixes (each failed before)


def _release_df(folder: Path, df: pd.DataFrame, images=IMAGES) -> Path:
    """A release whose table is ``df`` as pandas writes it (types as given, e.g. a string pass rate)."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "images.zip", "w") as zf:
        for name, data in images.items():
            zf.writestr(name, data)
    df.to_parquet(folder / "39Krelease.parquet")
    return folder


def _table(**columns) -> pd.DataFrame:
    n = len(columns["qid"])
    base = {"question": ["<image>Q?"] * n, "answer": ["\\boxed{1}"] * n, "image": [["images/img0.png"]] * n,
            "category": ["c"] * n, "source": ["s"] * n, "qid": None, "PassRate_32BTrained": [0.5] * n,
            "PassRate_7BBase": [0.5] * n}
    return pd.DataFrame({k: columns.get(k, v) for k, v in base.items()})


def test_bad_cells_are_rejected_row_by_row(tmp_path, capsys):
    """Before: PassRate_7BBase='high' -> ValueError traceback; a null in a string image column ->
    TypeError traceback; a placeholder with no image kept as text-only (counted as repaired)."""
    df = _table(qid=["a", "b", "c", "d", "e", "f"],
                question=["<image>Q?", "<image>Q?", "<image>Q?", "Plain text?", "<image>Q?", "<image>Q?"],
                image=["images/img0.png", "images/img1.png", None, None, "images/img1.png", "images/img1.png"],
                PassRate_7BBase=["high", "0.25", "0.5", "0.5", None, "2"])
    rel = _release_df(tmp_path / "r", df)
    code, out, err = _cli(capsys, "--release", rel, "--out", tmp_path / "o", "--max-pass-rate", "0.9")
    assert code == 0, err
    report = json.loads(out)
    assert report["rejected"] == {"bad_pass_rate": {"count": 2, "ids": ["a", "f"]},
                                  "missing_image": {"count": 1, "ids": ["c"]}}
    assert "repaired_placeholders_removed" not in report
    train = pd.read_parquet(tmp_path / "o" / "train.parquet")
    assert train["extra_info"].map(lambda e: e["id"]).tolist() == ["b", "d", "e"]
    metas = [json.loads(e["meta"]) for e in train["extra_info"]]  # strict JSON: a missing pass rate is null
    assert [m["pass_rate_7b_base"] for m in metas] == [0.25, 0.5, None]
    lines = {x["id"]: x for x in map(json.loads, (tmp_path / "o" / "rejected.jsonl").read_text().splitlines())}
    assert "'high' is not a number" in lines["a"]["detail"] and "no image" in lines["c"]["detail"]


def test_missing_pass_rates_are_null_in_meta_and_float_answers_read_as_numbers(tmp_path):
    """Before: a NaN pass rate was written as a bare NaN in the meta JSON (not strict JSON); float
    answers became '12.0' / '1e+20'; a missing category became the ability 'None'."""
    df = _table(qid=["a", "b", "c"], answer=[12.0, 1e20, np.nan], category=[None, "c", "c"],
                PassRate_7BBase=np.array([np.nan, 0.5, 0.5], dtype=np.float32))
    rel = _release_df(tmp_path / "r", df)
    report = convert(rel, tmp_path / "o")
    assert report["rejected"] == {"missing_answer": {"count": 1, "ids": ["c"]}}
    train = pd.read_parquet(tmp_path / "o" / "train.parquet")
    assert train["reward_model"].map(lambda r: r["ground_truth"]).tolist() == ["12", "100000000000000000000"]
    meta = train["extra_info"].iloc[0]["meta"]
    assert json.loads(meta, parse_constant=lambda c: pytest.fail(f"{c} in {meta}"))["pass_rate_7b_base"] is None
    assert train["ability"].tolist() == ["virl39k", "c"] and json.loads(meta)["category"] is None


def test_empty_and_none_answers_and_placeholder_questions_are_rejected(tmp_path):
    """Before: '\\boxed{\\boxed{}}' -> ground truth '\\boxed{}', '\\boxed{\\text{}}' -> '\\text{}',
    'None' -> 'None'; a question '<image 1>' was kept."""
    rows = [release_row("n1", "<image>Q", "\\boxed{\\boxed{}}", ["images/img0.png"]),
            release_row("n2", "<image>Q", "\\boxed{\\text{}}", ["images/img0.png"]),
            release_row("n3", "<image>Q", "None", ["images/img0.png"]),
            release_row("n4", "<image>Q", "\\boxed{NULL}", ["images/img0.png"]),
            release_row("n5", "<image 1>", "\\boxed{5}", ["images/img0.png"]),
            release_row("ok", "<image>Q", "\\boxed{\\boxed{5}}", ["images/img0.png"])]
    report = convert(release(tmp_path / "r", rows, IMAGES), tmp_path / "o")
    assert report["rejected"] == {"missing_answer": {"count": 4, "ids": ["n1", "n2", "n3", "n4"]},
                                  "missing_question": {"count": 1, "ids": ["n5"]}}
    train = pd.read_parquet(tmp_path / "o" / "train.parquet")
    assert train["reward_model"].iloc[0]["ground_truth"] == "5"


def test_duplicate_qids_are_rejected_and_the_holdout_shares_none(tmp_path):
    """Before: 20 rows of 5 qids were all kept and --holdout 0.3 put copies of one qid on both sides."""
    rows = [release_row(f"q{k % 5}", f"<image>Question {k}?", f"\\boxed{{{k}}}", [f"images/img{k % 5}.png"])
            for k in range(20)]
    report = convert(release(tmp_path / "r", rows, IMAGES), tmp_path / "o", holdout=0.3)
    assert report["rejected"]["duplicate_id"]["count"] == 15 and report["rows_train"] + report["rows_holdout"] == 5
    train, hold = _qids(tmp_path / "o" / "train.parquet"), _qids(tmp_path / "o" / "holdout.parquet")
    assert not train & hold and train | hold == {f"q{k}" for k in range(5)}
    first = pd.concat([pd.read_parquet(tmp_path / "o" / f) for f in ("train.parquet", "holdout.parquet")])
    assert sorted(first["reward_model"].map(lambda r: r["ground_truth"])) == ["0", "1", "2", "3", "4"]  # the first rows


def test_a_negative_seed_is_refused_before_the_work(clean_rel, tmp_path, capsys):
    """Before: --seed -1 failed with a numpy ValueError traceback after the whole conversion."""
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "o", "--holdout", "0.5", "--seed", "-1")
    assert_error_line(code, err, "--seed", "must be an integer >= 0, got -1")
    assert not (tmp_path / "o").exists()


def test_output_problems_are_one_line_before_any_work(clean_rel, tmp_path, capsys):
    """Before: --out inside a file gave a NotADirectoryError traceback after the conversion."""
    (clean_rel / "39Krelease.parquet").write_bytes(b"corrupt")  # the output error must come first
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", clean_rel / "images.zip" / "sub")
    assert_error_line(code, err, str(clean_rel / "images.zip"), "is a file, not a folder", "--out")
    code, _, err = _cli(capsys, "--release", clean_rel, "--out", tmp_path / "new" / "o")
    assert_error_line(code, err, "39Krelease.parquet", "not a readable parquet")
    assert not (tmp_path / "new").exists()  # the folders this run created are removed again


def test_read_only_output_folder_is_one_line(clean_rel, tmp_path, capsys):
    """Before: a PermissionError traceback from OutputSet._temp after the conversion."""
    (clean_rel / "39Krelease.parquet").write_bytes(b"corrupt")  # the output error must come first
    with unwritable_folder(tmp_path / "ro") as ro:
        code, _, err = _cli(capsys, "--release", clean_rel, "--out", ro)
        assert_error_line(code, err, str(ro), "cannot write in this output folder")
        code, _, err = _cli(capsys, "--release", clean_rel, "--out", ro / "sub")
        assert_error_line(code, err, str(ro / "sub"), "cannot create this output folder")
