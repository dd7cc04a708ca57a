"""Benchmark conversion: one adapter per benchmark on a fixture with its card's exact columns and
types (tests/data_fixtures.py), rejected rows listed by id, one-line errors with exit code 2 for
bad files and wrong adapters, safe outputs, the catalog, and all outputs loading together in verl."""

import json
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest
from data_fixtures import (
    NOT_AN_IMAGE, ROWS, SCHEMAS, assert_error_line, benchmark_file, img, mmstar_row, png, release, release_row,
    rows_file, unwritable_folder, write,
)

from verl_mupo.data import benchmarks as bm
from verl_mupo.data.rows import INSTRUCTION, output_schema
from verl_mupo.data.virl39k import convert as convert_virl39k
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
    assert sorted(bm.CATALOG[kind].card_columns) == sorted(SCHEMAS[kind].names)
    assert set(bm.CATALOG[kind].image_columns) <= set(bm.CATALOG[kind].columns)


def test_list_and_val_files(tmp_path, capsys):
    code, out, _ = _run(capsys, "--list")
    assert code == 0 and "| mmvet | MMVet | general | judge |" in out and "alternative" in out
    e = tmp_path / "e"
    e.mkdir()
    for k in bm.DEFAULT_BENCHMARKS[1:]:
        (e / bm.CATALOG[k].filename).write_bytes(b"")
    # before: printed the list of files whether they existed or not
    code, _, err = _run(capsys, "--val-files", e)
    assert_error_line(code, err, str(e), "has no mathverse.parquet", "convert those benchmarks first")
    (e / bm.CATALOG[bm.DEFAULT_BENCHMARKS[0]].filename).write_bytes(b"")
    code, out, _ = _run(capsys, "--val-files", e)
    assert code == 0 and out.strip() == "[" + ",".join(f"{e}/{bm.CATALOG[k].filename}" for k in bm.DEFAULT_BENCHMARKS) + "]"


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
    """The ten benchmark files and ViRL39K's train and holdout: verl concatenates data files with datasets.concatenate_datasets, which refuses differing columns."""
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
    rel = release(tmp_path / "release", [release_row("q0", "<image>What is the area?", "\\boxed{12}", ["images/a.png"]),
                                         release_row("q1", "<image>Which?", "\\boxed{B}", ["images/b.png"])],
                  {"images/a.png": png(1), "images/b.png": png(2)})
    convert_virl39k(rel, tmp_path / "virl39k", holdout=0.5)
    files += [str(tmp_path / "virl39k" / "train.parquet"), str(tmp_path / "virl39k" / "holdout.parquet")]
    capsys.readouterr()
    for f in files:
        assert pq.read_schema(f).remove_metadata() == output_schema()
    build_tokenizer(tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    cfg = OmegaConf.create({"max_prompt_length": 4096, "filter_overlong_prompts": False, "truncation": "error",
                            "image_key": "__no_images__", "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(data_files=files, tokenizer=tok, config=cfg, processor=None)
    expected = sum(len(pd.read_parquet(f)) for f in files)
    sources = {ds[i]["data_source"] for i in range(len(ds))}
    assert len(ds) == expected and sources == {b.name for b in bm.CATALOG.values()} | {"virl39k"}


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


# ------------------------------------------------------------------ review fixes (each failed before)


def test_question_of_only_image_placeholders_is_missing(tmp_path, capsys):
    """Before: written with the prompt '<image> You FIRST think about ...' (nothing to ask)."""
    src = rows_file("mmstar", tmp_path / "m.parquet", [mmstar_row(0, "<image>"), mmstar_row(1, " <image> <image> "),
                                                       mmstar_row(2, "<image 1>"), mmstar_row(3)])
    code, out, err = _run(capsys, "mmstar", src, "--out", tmp_path / "o.parquet")
    assert code == 0, err
    report = json.loads(out)
    assert report["rejected"] == {"missing_question": {"count": 3, "ids": ["0", "1", "2"]}} and report["rows_out"] == 1


def test_a_file_of_another_set_is_refused_even_when_its_columns_fit(tmp_path, capsys):
    """MMStar with an id column (the macabdul9/MMStar copy) has LogicVista's four needed columns.
    Before: converted as LogicVista, exit 0."""
    schema = SCHEMAS["mmstar"].append(pa.field("id", pa.string()))
    src = rows_file("mmstar", tmp_path / "mmstar_with_id.parquet", [mmstar_row(0) | {"id": "0"}], schema)
    code, _, err = _run(capsys, "logicvista", src, "--out", tmp_path / "eval")
    assert_error_line(code, err, str(src), "looks like a mmstar file, not logicvista", "7 of the 7 columns of the mmstar",
                      "4 of the 11 of the logicvista")
    assert not (tmp_path / "eval").exists()
    code, out, err = _run(capsys, "mmstar", src, "--out", tmp_path / "eval")  # its own adapter takes it
    assert code == 0 and json.loads(out)["rows_out"] == 1, err


@pytest.mark.parametrize("kind", list(bm.CATALOG))
def test_each_fixture_looks_like_its_own_set(kind):
    assert bm.looks_like(SCHEMAS[kind].names)[0] == kind


def test_output_problems_are_one_line_before_any_work(tmp_path, capsys):
    """Before: FileExistsError / NotADirectoryError tracebacks, and only after reading the input.
    The input here is unreadable: the output error comes first, so no work was done."""
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet")
    zip_file = tmp_path / "images.zip"
    zip_file.write_bytes(b"PK")
    code, _, err = _run(capsys, "mmvet", bad, "--out", zip_file)
    assert_error_line(code, err, str(zip_file), "is a file; --out takes a folder or a path ending in .parquet")
    for out in (zip_file / "sub", zip_file / "sub" / "x.parquet"):
        code, _, err = _run(capsys, "mmvet", bad, "--out", out)
        assert_error_line(code, err, str(zip_file), "is a file, not a folder", "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "images.zip"]
    # an error after the checks removes the output folders the run created
    code, _, err = _run(capsys, "mmvet", bad, "--out", tmp_path / "new" / "deeper")
    assert_error_line(code, err, str(bad), "not a readable parquet file")
    assert not (tmp_path / "new").exists()


def test_read_only_output_folder_is_one_line(tmp_path, capsys):
    """Before: "Failed to open local file '.../mmvet.parquet.tmp-<pid>'" traceback after the work."""
    src = benchmark_file("mmvet", tmp_path / "src")
    with unwritable_folder(tmp_path / "ro") as ro:
        code, _, err = _run(capsys, "mmvet", src, "--out", ro)
        assert_error_line(code, err, str(ro), "cannot write in this output folder", "--out")


def test_duplicate_files_and_ids(tmp_path, capsys):
    """Before: the same file twice (by name and by a glob) doubled every item; a repeated id was kept twice."""
    src = benchmark_file("mmvet", tmp_path / "src", "mmvet-0.parquet")
    code, _, err = _run(capsys, "mmvet", src, str(tmp_path / "src" / "mmvet-*.parquet"), "--out", tmp_path / "o")
    assert_error_line(code, err, "mmvet-0.parquet: given twice")
    assert not (tmp_path / "o").exists()
    rows = ROWS["mmvet"]()
    dup = rows_file("mmvet", tmp_path / "dup.parquet", rows + [rows[1] | {"question": "another"}, rows[1]])
    code, out, err = _run(capsys, "mmvet", dup, "--out", tmp_path / "o")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows_out"] == 2 and report["rejected"] == {"duplicate_id": {"count": 2, "ids": ["v1_1", "v1_1"]}}
    df = pd.read_parquet(report["outputs"]["parquet"])
    assert df["extra_info"].map(lambda e: e["id"]).tolist() == ["v1_0", "v1_1"]
    assert "How many apples?" in _content(df.iloc[1])  # the first row with the id is the one kept


def test_empty_and_placeholder_answers_are_missing(tmp_path, capsys):
    """Before: ground truths '\\boxed{}', '\\text{}', 'None' and 'null' were written."""
    answers = ["\\boxed{\\boxed{}}", "\\boxed{\\text{}}", "None", "null", "\\boxed{ NaN }", "$ $",
               "\\boxed{\\boxed{7}}", "\\pi"]
    src = rows_file("mmstar", tmp_path / "m.parquet", [mmstar_row(k, answer=a) for k, a in enumerate(answers)])
    code, out, err = _run(capsys, "mmstar", src, "--out", tmp_path / "o.parquet")
    assert code == 0, err
    report = json.loads(out)
    assert report["rejected"] == {"missing_answer": {"count": 6, "ids": ["0", "1", "2", "3", "4", "5"]}}
    df = pd.read_parquet(tmp_path / "o.parquet")
    assert df["reward_model"].map(lambda r: r["ground_truth"]).tolist() == ["7", "\\pi"]


def test_float_answers_and_hallusionbench_float_labels(tmp_path, capsys):
    """Before: 12.0 -> '12.0', 1e20 -> '1e+20'; a float gt_answer (0.0/1.0) rejected every row."""
    pd.DataFrame({"q": ["a?", "b?", "c?", "d?"], "a": [12.0, 1e20, 0.5, 1e-7],
                  "img": [img(k) for k in range(4)]}).to_parquet(tmp_path / "f.parquet")
    code, out, err = _run(capsys, "generic", tmp_path / "f.parquet", "--out", tmp_path / "f_out.parquet", "--name", "F",
                          "--question-col", "q", "--answer-col", "a", "--image-col", "img")
    assert code == 0, err
    gts = pd.read_parquet(tmp_path / "f_out.parquet")["reward_model"].map(lambda r: r["ground_truth"]).tolist()
    assert gts == ["12", "100000000000000000000", "0.5", "0.0000001"]
    schema = pa.schema([f if f.name != "gt_answer" else pa.field("gt_answer", pa.float64()) for f in SCHEMAS["hallusionbench"]])
    rows = [r | {"gt_answer": float(r["gt_answer"])} for r in ROWS["hallusionbench"]()]
    src = rows_file("hallusionbench", tmp_path / "hb.parquet", rows, schema)
    code, out, err = _run(capsys, "hallusionbench", src, "--out", tmp_path / "hb_out.parquet")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows_out"] == 2 and report["rejected"]["answer_not_yes_no"]["ids"] == ["VD_illusion_0_2_0"]


def test_meta_is_strict_json(tmp_path, capsys):
    """MathVista's missing precision and a NaN in any source field are null, never a bare NaN."""
    report, df, rows = _convert("mathvista", tmp_path, capsys)
    for meta in df["extra_info"].map(lambda e: e["meta"]):
        json.loads(meta, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in {meta}"))
    assert json.loads(rows["1"]["extra_info"]["meta"])["precision"] is None


def test_name_with_a_path_is_refused_and_suffix_case_is_ignored(tmp_path, capsys):
    """Before: --name ../../escape wrote outside --out; --out o.PARQUET became a folder."""
    src = tmp_path / "g.parquet"
    pd.DataFrame({"question": ["Is it red?"], "answer": ["Yes"], "image": [img(5)]}).to_parquet(src)
    for bad in ("../../escape", "a/b", ".hidden"):
        code, _, err = _run(capsys, "generic", src, "--out", tmp_path / "out", "--name", bad)
        assert_error_line(code, err, "--name", "plain name")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escape.parquet").exists()
    code, out, err = _run(capsys, "mmvet", benchmark_file("mmvet", tmp_path / "src"), "--out", tmp_path / "o.PARQUET")
    assert code == 0, err
    assert (tmp_path / "o.PARQUET").is_file() and (tmp_path / "o.rejected.jsonl").is_file()


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path, capsys):
    """Before: a 'mmvet.parquet.tmp-<pid>' left by a SIGKILLed run stayed forever. A temporary file
    of a process that still runs (pid 1) is left alone."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "eval"
    out.mkdir()
    stale, live = out / f"mmvet.parquet.tmp-{done.stdout.strip()}", out / "mmvet.parquet.tmp-1"
    stale.write_bytes(b"half")
    live.write_bytes(b"busy")
    code, text, err = _run(capsys, "mmvet", benchmark_file("mmvet", tmp_path / "src"), "--out", out)
    assert code == 0, err
    assert not stale.exists() and live.exists() and json.loads(text)["stale_temp_files_removed"] == [str(stale)]


def test_sigterm_during_the_write_leaves_no_temp_file(tmp_path):
    """Before: SIGTERM killed the process with 'train.parquet.tmp-<pid>' left behind."""
    script = f"""
import os, signal, time
from pathlib import Path
from verl_mupo.data.safe_io import OutputSet, run_cli
def body(argv):
    target = Path({str(tmp_path / "out" / "x.parquet")!r})
    with OutputSet([target]) as o:
        o.write_text(target, "partial")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    return 0
raise SystemExit(run_cli(body))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + 15, proc.stderr
    assert not (tmp_path / "out").exists()  # no temp file, and the folder the run created is gone
