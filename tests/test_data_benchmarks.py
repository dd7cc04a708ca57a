"""Benchmark conversion: one adapter per benchmark on a fixture with its card's exact columns and
types (tests/data_fixtures.py), rejected rows listed by id, one-line errors with exit code 2 for
bad files and wrong adapters, safe outputs, the catalog, and all outputs loading together in verl."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from data_fixtures import NOT_AN_IMAGE, ROWS, SCHEMAS, assert_error_line, benchmark_file, img, png, write

from verl_mupo.data import benchmarks as bm
from verl_mupo.data.rows import INSTRUCTION, output_schema
from verl_mupo.scoring import compute_score


def _run(capsys, *argv):
    """The real command line in-process: (exit code, stdout, stderr)."""
    code = bm.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _convert(kind, tmp_path, capsys, *extra):
    src = benchmark_file(kind, tmp_path / "src")
    code, out, err = _run(capsys, kind, src, "--out", tmp_path / "eval", *extra)
    assert code == 0, err
    report = json.loads(out)
    df = pd.read_parquet(report["outputs"]["parquet"])
    return report, df, {r["extra_info"]["id"]: r for r in df.to_dict("records")}


def _content(row):
    return row["prompt"][0]["content"]


# ------------------------------------------------------------------------------------ the catalog


def test_catalog_is_the_readme_nine_with_mmmu_as_the_alternative():
    names = [bm.CATALOG[k].name for k in bm.DEFAULT_BENCHMARKS]
    assert names == ["MathVerse", "MathVista", "MathVision", "LogicVista", "WeMath", "Geometry3K", "MMStar",
                     "HallusionBench", "MMVet"]
    assert [b.name for b in bm.benchmarks_in("math")] == names[:6]
    assert [b.name for b in bm.benchmarks_in("general")] == names[6:]
    assert bm.ALTERNATIVE_BENCHMARKS == ("mmmu",) and "DynaMath" not in {b.name for b in bm.CATALOG.values()}
    assert {k for k, b in bm.CATALOG.items() if b.scoring == "judge"} == {"mmvet"}
    assert len({b.filename for b in bm.CATALOG.values()}) == len(bm.CATALOG) and set(bm.ADAPTERS) == set(bm.CATALOG)
    # the names the authors' evaluation script uses (VLMEvalKit) resolve to the catalog
    for vlmeval, key in [("MathVerse_MINI_Vision_Only", "mathverse"), ("MathVista_MINI", "mathvista"),
                         ("MathVision_MINI", "mathvision"), ("LogicVista", "logicvista"), ("WeMath", "wemath"),
                         ("MMMU_DEV_VAL", "mmmu"), ("MMStar", "mmstar"), ("HallusionBench", "hallusionbench"),
                         ("MMVet", "mmvet")]:
        assert bm.lookup(vlmeval).key == key
    assert bm.lookup("DynaMath") is None


@pytest.mark.parametrize("kind", list(bm.CATALOG))
def test_fixture_has_the_cards_columns(kind):
    """The fixtures are built on each card's schema; the adapter needs only columns of it."""
    assert set(bm.CATALOG[kind].columns) <= set(SCHEMAS[kind].names)
    assert set(bm.CATALOG[kind].image_columns) <= set(bm.CATALOG[kind].columns)


def test_list_and_val_files(tmp_path, capsys):
    code, out, _ = _run(capsys, "--list")
    assert code == 0 and "| mmvet | MMVet | general | judge |" in out and "alternative" in out
    code, out, _ = _run(capsys, "--val-files", "/e")
    assert code == 0 and out.strip() == "[" + ",".join(f"/e/{bm.CATALOG[k].filename}" for k in bm.DEFAULT_BENCHMARKS) + "]"


# ------------------------------------------------------------------------------------- adapters


def test_mathverse_keeps_the_vision_only_version(tmp_path, capsys):
    report, df, rows = _convert("mathverse", tmp_path, capsys)
    assert report["skipped_other_version"] == 1 and report["rows_out"] == 2
    assert report["rejected"] == {"missing_answer": {"count": 1, "ids": ["15"]}}
    mc, free = rows["5"], rows["10"]
    assert mc["data_source"] == "MathVerse" and mc["reward_model"]["ground_truth"] == "B"
    assert _content(mc).startswith("<image>According to the question shown in the image")  # query_wo, question empty
    assert mc["extra_info"]["answer_type"] == "choice" and free["extra_info"]["answer_type"] == "number"
    assert json.loads(mc["extra_info"]["meta"])["problem_version"] == "Vision Only"
    assert report["outputs"]["parquet"].endswith("eval/mathverse.parquet")


def test_mathvista_choice_answer_becomes_its_letter(tmp_path, capsys):
    report, df, rows = _convert("mathvista", tmp_path, capsys)
    mc = rows["1"]
    assert mc["reward_model"]["ground_truth"] == "B" and list(mc["extra_info"]["options"]) == ["3 cm", "5 cm"]
    assert "Which is longer?\nA. 3 cm\nB. 5 cm " + INSTRUCTION in _content(mc) and _content(mc).startswith("<image>")
    assert mc["images"][0]["bytes"] == png(11)
    assert compute_score("MathVista", "<think>x</think> \\boxed{5 cm}", "B", {"options": ["3 cm", "5 cm"]})["acc"] == 1
    assert rows["2"]["reward_model"]["ground_truth"] == "12.5" and rows["2"]["extra_info"]["options"].size == 0
    assert json.loads(rows["2"]["extra_info"]["meta"])["precision"] == 1.0
    assert report["rejected"]["answer_not_in_options"]["ids"] == ["3"]
    assert report["rejected"]["bad_image"]["ids"] == ["4"]
    lines = [json.loads(x) for x in open(report["outputs"]["rejected"])]
    assert {(x["id"], x["reason"]) for x in lines} == {("3", "answer_not_in_options"), ("4", "bad_image")}


def test_mathvision_options_and_image_tags(tmp_path, capsys):
    report, df, rows = _convert("mathvision", tmp_path, capsys)
    letters_only, listed, free = rows["1"], rows["2"], rows["3"]
    # options that are just the letters are drawn in the image: not listed again
    assert _content(letters_only).startswith("<image>Which shape comes next? " + INSTRUCTION[:10])
    assert "<image1>" not in _content(listed) and "How many cubes?\nA. 1\nB. 2\nC. 3" in _content(listed)
    assert listed["reward_model"]["ground_truth"] == "B" and free["extra_info"]["answer_type"] == "number"
    assert report["rejected"] == {"missing_question": {"count": 1, "ids": ["4"]}}


def test_logicvista_several_letters(tmp_path, capsys):
    report, df, rows = _convert("logicvista", tmp_path, capsys)
    assert rows["1"]["reward_model"]["ground_truth"] == "C" and rows["1"]["extra_info"]["answer_type"] == "choice"
    assert rows["2"]["reward_model"]["ground_truth"] == "A, C" and rows["2"]["extra_info"]["answer_type"] == "choices"
    assert report["rejected"]["missing_answer"]["ids"] == ["3"]


def test_wemath_option_string(tmp_path, capsys):
    report, df, rows = _convert("wemath", tmp_path, capsys)
    parsed = rows["1-1"]
    assert list(parsed["extra_info"]["options"]) == ["3", "4", "5", "6", "No correct answer"]
    assert "rectangle?\nA. 3\nB. 4\nC. 5\nD. 6\nE. No correct answer " in _content(parsed)
    assert "Which is right?\nsee the figure " in _content(rows["2-1"])  # kept as given when it does not parse
    assert report["rejected"]["missing_image"]["ids"] == ["3-1"]  # stored as a path only


def test_geometry3k_free_form_as_verl_uses_it(tmp_path, capsys):
    report, df, rows = _convert("geometry3k", tmp_path, capsys)
    row = rows["2401"]
    assert _content(row) == "<image>Find x. " + INSTRUCTION and row["reward_model"]["ground_truth"] == "3\\sqrt{3}"
    assert row["extra_info"]["answer_type"] == "text" and json.loads(row["extra_info"]["meta"])["ground_truth"] == "B"
    assert report["rejected"]["missing_image"]["ids"] == ["2403"]


def test_mmstar_and_hallusionbench(tmp_path, capsys):
    report, df, rows = _convert("mmstar", tmp_path, capsys)
    assert rows["0"]["ability"] == "coarse perception" and rows["0"]["reward_model"]["ground_truth"] == "B"
    assert report["rejected"]["missing_question"]["ids"] == ["1"]
    report, df, rows = _convert("hallusionbench", tmp_path, capsys)
    assert [r["reward_model"]["ground_truth"] for r in rows.values()] == ["No", "Yes"]
    assert {r["extra_info"]["answer_type"] for r in rows.values()} == {"yes_no"}
    assert report["rejected"]["answer_not_yes_no"]["ids"] == ["VD_illusion_0_2_0"]


def test_mmvet_is_judge_scored(tmp_path, capsys):
    report, df, rows = _convert("mmvet", tmp_path, capsys)
    assert report["scoring"] == "judge" and set(df["extra_info"].map(lambda e: e["scoring"])) == {"judge"}
    assert rows["v1_0"]["reward_model"]["ground_truth"] == "-1<AND>-5"
    assert json.loads(rows["v1_0"]["extra_info"]["meta"])["capability"] == ["ocr", "math"]


def test_mmmu_options_images_and_hidden_answers(tmp_path, capsys):
    report, df, rows = _convert("mmmu", tmp_path, capsys)
    mc = rows["validation_Mechanical_1"]
    assert len(mc["images"]) == 2 and _content(mc).startswith("<image><image>[image 1] Which member is in tension?")
    assert "\nA. [image 2]\nB. member BC\nC. member CD " in _content(mc) and mc["reward_model"]["ground_truth"] == "A"
    assert rows["validation_Mechanical_2"]["reward_model"]["ground_truth"] == "24"
    assert report["rejected"]["missing_answer"]["ids"] == ["test_Mechanical_3"]  # '?' in the test split
    assert report["rejected"]["bad_options"]["ids"] == ["validation_Mechanical_4"]
    assert report["split"] == "dev+validation" and mc["data_source"] == "MMMU"


def test_generic_adapter(tmp_path, capsys):
    pd.DataFrame({"q": ["Is it red?", "Is it blue?"], "a": ["Yes", float("nan")],
                  "img": [img(5), img(6)]}).to_parquet(tmp_path / "h.parquet")
    code, out, err = _run(capsys, "generic", tmp_path / "h.parquet", "--out", tmp_path / "x.parquet", "--name", "Other",
                          "--question-col", "q", "--answer-col", "a", "--image-col", "img")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows_out"] == 1 and report["rejected"]["missing_answer"]["ids"] == ["1"]
    assert pd.read_parquet(tmp_path / "x.parquet").iloc[0]["data_source"] == "Other"


def test_all_outputs_share_one_schema_and_load_together_in_verl(tmp_path, capsys):
    """verl concatenates val files with datasets.concatenate_datasets, which refuses differing columns."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_mupo.cpu.assets import build_tokenizer

    files = []
    for kind in bm.CATALOG:
        src = benchmark_file(kind, tmp_path / "src")
        assert bm.main([kind, str(src), "--out", str(tmp_path / "eval")]) == 0
        files.append(str(tmp_path / "eval" / bm.CATALOG[kind].filename))
    capsys.readouterr()
    for f in files:
        assert pq.read_schema(f).remove_metadata() == output_schema()
    build_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    cfg = OmegaConf.create({"max_prompt_length": 4096, "filter_overlong_prompts": False, "truncation": "error",
                            "image_key": "__no_images__", "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(data_files=files, tokenizer=tok, config=cfg, processor=None)
    expected = sum(len(pd.read_parquet(f)) for f in files)
    assert len(ds) == expected and {ds[i]["data_source"] for i in range(len(ds))} == {b.name for b in bm.CATALOG.values()}


# ------------------------------------------------------------------------------ errors and outputs


def test_wrong_adapter_names_expected_and_found_columns(tmp_path, capsys):
    src = benchmark_file("mathvista", tmp_path)
    code, _, err = _run(capsys, "mmstar", src, "--out", tmp_path / "eval")
    assert_error_line(code, err, str(src), "missing columns ['index', 'category']", "mmstar adapter", "'pid'",
                       "fit the mathvista adapter")
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("kind", list(bm.CATALOG))
def test_every_other_adapter_refuses_the_file(kind, tmp_path, capsys):
    src = benchmark_file(kind, tmp_path)
    for other in bm.CATALOG:
        if other != kind:
            code, _, err = _run(capsys, other, src, "--out", tmp_path / "eval")
            assert_error_line(code, err, str(src))
    assert not (tmp_path / "eval").exists()


def test_corrupt_and_missing_inputs(tmp_path, capsys):
    good = benchmark_file("mmstar", tmp_path)
    bad = tmp_path / "truncated.parquet"
    bad.write_bytes(good.read_bytes()[:200])
    code, _, err = _run(capsys, "mmstar", bad, "--out", tmp_path / "o.parquet")
    assert_error_line(code, err, str(bad), "not a readable parquet file")
    code, _, err = _run(capsys, "mmstar", tmp_path / "absent.parquet", "--out", tmp_path / "o.parquet")
    assert_error_line(code, err, "absent.parquet: not found")
    code, _, err = _run(capsys, "mmstar", str(tmp_path / "nothing-*.parquet"), "--out", tmp_path / "o.parquet")
    assert_error_line(code, err, "no file matches")
    # through a real subprocess: exit code 2 and one line on stderr
    proc = subprocess.run([sys.executable, "-m", "verl_mupo.data.benchmarks", "mmstar", str(bad), "--out",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True)
    assert_error_line(proc.returncode, proc.stderr, str(bad))


def test_output_refused_when_it_exists_or_is_an_input(tmp_path, capsys):
    src = benchmark_file("mmstar", tmp_path / "src")
    out = tmp_path / "eval" / "mmstar.parquet"
    assert _run(capsys, "mmstar", src, "--out", out)[0] == 0
    before = out.read_bytes()
    code, _, err = _run(capsys, "mmstar", src, "--out", out)
    assert_error_line(code, err, str(out), "exists", "--overwrite")
    assert out.read_bytes() == before
    # the rejects file belongs to the set: its presence alone refuses too
    out.unlink()
    code, _, err = _run(capsys, "mmstar", src, "--out", out)
    assert_error_line(code, err, "mmstar.rejected.jsonl", "exists")
    assert _run(capsys, "mmstar", src, "--out", out, "--overwrite")[0] == 0 and out.exists()
    for extra in ([], ["--overwrite"]):
        code, _, err = _run(capsys, "mmstar", src, "--out", src, *extra)
        assert_error_line(code, err, str(src), "is also an input")
    assert pd.read_parquet(src).columns.tolist() == SCHEMAS["mmstar"].names  # the input is untouched


def test_every_row_rejected_is_an_error_not_an_empty_file(tmp_path, capsys):
    rows = [r | {"image": img(NOT_AN_IMAGE)} for r in ROWS["mmvet"]()]
    src = write(tmp_path / "mmvet.parquet", {n: [r[n] for r in rows] for n in SCHEMAS["mmvet"].names}, SCHEMAS["mmvet"])
    code, _, err = _run(capsys, "mmvet", src, "--out", tmp_path / "eval")
    assert_error_line(code, err, "no row left", "bad_image")
    assert not (tmp_path / "eval").exists() or not any((tmp_path / "eval").iterdir())
