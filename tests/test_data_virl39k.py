"""ViRL39K conversion on a fixture with the release's exact columns and types (small PIL images in
a real zip), checked with verl's own RLHFDataset."""

import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from verl_mupo.data.virl39k import INSTRUCTION, convert, dhash, fix_placeholders, hamming, strip_outer_boxed


def _png(seed: int, size=(32, 32)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr).resize(size, Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def release(tmp_path):
    rel = tmp_path / "release"
    rel.mkdir()
    with zipfile.ZipFile(rel / "images.zip", "w") as zf:
        for k in range(6):
            zf.writestr(f"images/img{k}.png", _png(k))
    rows = {
        "question": ["<image>What is the area?", "How many apples?", "<image><image>Compare the two.",
                     "What is 2+2?", "<image>Which option? A. 1 B. 2", "<image>Is it red?", "<image>Unknown image"],
        "answer": ["\\boxed{12}", "\\boxed{3}", "\\boxed{A}", "\\boxed{4}", "\\boxed{B}", "\\boxed{Yes}", "\\boxed{1}"],
        "image": [["images/img0.png"], ["images/img1.png"], ["images/img2.png"], [], ["images/img4.png"],
                  ["images/img5.png"], ["images/missing.png"]],
        "category": ["Geometry", "Counting", "Spatial Reasoning", "Math", "Chart", "Color", "x"],
        "source": ["MM-Eureka", "LLaVA-OneVision", "R1-OneVision", "DeepScaleR", "M3CoT", "MV-Math", "x"],
        "qid": [f"q{i}" for i in range(7)],
        "PassRate_32BTrained": np.array([0.5, 0.25, -1, 1.0, 0.75, 0.5, 0.5], dtype=np.float32),
        "PassRate_7BBase": np.array([0.25, 0.95, -1, 1.0, 0.5, 0.125, 0.5], dtype=np.float32),
    }
    schema = pa.schema([("question", pa.string()), ("answer", pa.string()), ("image", pa.list_(pa.string())),
                        ("category", pa.string()), ("source", pa.string()), ("qid", pa.string()),
                        ("PassRate_32BTrained", pa.float32()), ("PassRate_7BBase", pa.float32())])
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), rel / "39Krelease.parquet")
    return rel


@pytest.fixture()
def eval_dir(tmp_path):
    d = tmp_path / "eval"
    d.mkdir()
    # one benchmark item repeats training row 5's question text; another shares row 4's image, re-encoded larger
    im = Image.open(io.BytesIO(_png(4))).resize((64, 64))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=90)
    pd.DataFrame([
        {"data_source": "HallusionBench", "prompt": [{"role": "user", "content": "<image> Is it  RED? " + INSTRUCTION}],
         "images": [{"bytes": _png(100)}], "reward_model": {"ground_truth": "Yes"}},
        {"data_source": "MathVista", "prompt": [{"role": "user", "content": "<image> a different question"}],
         "images": [{"bytes": buf.getvalue()}], "reward_model": {"ground_truth": "B"}},
    ]).to_parquet(d / "bench.parquet")
    return d


def test_helpers():
    assert strip_outer_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}" and strip_outer_boxed("\\boxed{A}") == "A"
    assert strip_outer_boxed("\\boxed{a} and \\boxed{b}") == "\\boxed{a} and \\boxed{b}"
    assert fix_placeholders("Q", 2) == ("<image><image>Q", "added")
    assert fix_placeholders("<image><image>Q<image>", 1) == ("<image>Q", "removed")
    assert hamming(dhash(_png(3)), dhash(_png(3))) == 0 and hamming(dhash(_png(3)), dhash(_png(9))) > 8


def test_convert_counts_repairs_and_contamination(release, eval_dir, tmp_path):
    counts = convert(release, tmp_path / "out", eval_dir=eval_dir, holdout=0.0)
    assert counts["rows_in"] == 7
    assert counts["dropped_missing_image"] == 1
    assert counts["dropped_eval_question_match"] == 1  # row 5
    assert counts["dropped_eval_image_match"] == 1  # row 4 (same picture, re-encoded)
    assert counts["repaired_placeholders_added"] == 1  # row 1 had no placeholder
    assert counts["repaired_placeholders_removed"] == 1  # row 2 had two for one image
    df = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert len(df) == counts["rows_train"] == 4
    for _, row in df.iterrows():
        content = row["prompt"][0]["content"]
        assert content.count("<image>") == len(row["images"]) and content.endswith(INSTRUCTION)
        assert row["data_source"] == "virl39k" and not row["reward_model"]["ground_truth"].startswith("\\boxed")
    first = df[df["extra_info"].map(lambda e: e["qid"]) == "q0"].iloc[0]
    assert first["reward_model"]["ground_truth"] == "12" and first["images"][0]["bytes"] == _png(0)
    assert first["extra_info"]["pass_rate_7b_base"] == 0.25 and first["ability"] == "Geometry"


def test_options_filter_and_holdout(release, tmp_path):
    counts = convert(release, tmp_path / "o2", drop_text_only=True, max_pass_rate=0.9, holdout=0.5)
    assert counts["dropped_text_only"] == 1 and counts["dropped_pass_rate"] == 1  # rows 3 and 1
    assert counts["rows_train"] + counts["rows_holdout"] == 4 and counts["rows_holdout"] == 2
    assert pd.read_parquet(tmp_path / "o2" / "holdout.parquet")["extra_info"].map(lambda e: e["split"]).eq("holdout").all()


def test_keep_contaminated_still_reports(release, eval_dir, tmp_path):
    counts = convert(release, tmp_path / "o3", eval_dir=eval_dir, dedupe=False)
    assert counts["kept_eval_question_match"] == 1 and counts["rows_train"] == 6


def test_output_loads_in_verl_rlhf_dataset(release, tmp_path):
    """verl's RLHFDataset reads the parquet and tokenizes the chat prompt (text side: the image
    processor needs torchvision, which does not import beside the CPU torch build used here)."""
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_mupo.cpu.assets import build_tokenizer

    convert(release, tmp_path / "o4", drop_text_only=False)
    tok = build_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    cfg = OmegaConf.create({"max_prompt_length": 4096, "filter_overlong_prompts": False, "truncation": "error",
                            "image_key": "__no_images__", "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(data_files=[str(tmp_path / "o4" / "train.parquet")], tokenizer=tok, config=cfg, processor=None)
    assert len(ds) == 6
    item = ds[0]
    assert item["data_source"] == "virl39k" and item["reward_model"]["ground_truth"]
