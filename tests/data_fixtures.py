"""Small files shaped like the published data (the ViRL39K release, each benchmark's card: the exact
columns and pyarrow types), with real PNG images, for the data converter tests."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from verl_mupo.data.safe_io import EXIT_DATA_ERROR

#: a Hugging Face ``Image()`` feature as stored in parquet
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
NOT_AN_IMAGE = b"GIF89a but then nothing an image decoder can use"


def assert_error_line(code: int, err: str, *fragments: str) -> None:
    """A converter stopped on bad input: exit code 2 and one line ``error: ...`` holding ``fragments``."""
    assert code == EXIT_DATA_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def png(seed: int, size=(32, 32)) -> bytes:
    """A small PNG, different for each seed."""
    arr = (np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).resize(size, Image.Resampling.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def img(seed_or_bytes, path: str | None = None) -> dict:
    """An HF image cell: ``{"bytes", "path"}``."""
    data = png(seed_or_bytes) if isinstance(seed_or_bytes, int) else seed_or_bytes
    return {"bytes": data, "path": path}


def write(path: Path, columns: dict, schema: pa.Schema) -> Path:
    """A parquet with exactly ``schema`` (column order and types of the card)."""
    assert list(columns) == schema.names, (list(columns), schema.names)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path)
    return path


# ------------------------------------------------------------------------------------- ViRL39K

RELEASE_SCHEMA = pa.schema([
    ("question", pa.string()), ("answer", pa.string()), ("image", pa.list_(pa.string())), ("category", pa.string()),
    ("source", pa.string()), ("qid", pa.string()), ("PassRate_32BTrained", pa.float32()), ("PassRate_7BBase", pa.float32()),
])


def release(folder: Path, rows: list[dict], images: dict[str, bytes]) -> Path:
    """``39Krelease.parquet`` (the release's columns and types) + ``images.zip`` with ``images``."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "images.zip", "w") as zf:
        for name, data in images.items():
            zf.writestr(name, data)
    cols = {name: [r[name] for r in rows] for name in RELEASE_SCHEMA.names}
    write(folder / "39Krelease.parquet", cols, RELEASE_SCHEMA)
    return folder


def release_row(qid: str, question: str, answer: str | None, image: list[str], category: str = "Geometry",
                source: str = "MM-Eureka", pass_32b: float = 0.5, pass_7b: float = 0.5) -> dict:
    return {"question": question, "answer": answer, "image": image, "category": category, "source": source,
            "qid": qid, "PassRate_32BTrained": pass_32b, "PassRate_7BBase": pass_7b}


# ------------------------------------------------------------------------------------ benchmarks


def _s(*names):
    return [(n, pa.string()) for n in names]


SCHEMAS = {
    "mathverse": pa.schema(_s("sample_index", "problem_index", "problem_version", "question") + [("image", IMAGE)]
                           + _s("answer", "question_type")
                           + [("metadata", pa.struct(_s("split", "source", "subject", "subfield")))]
                           + _s("query_wo", "query_cot")),
    "mathvista": pa.schema(_s("pid", "question", "image") + [("decoded_image", IMAGE), ("choices", pa.list_(pa.string()))]
                           + _s("unit") + [("precision", pa.float64())] + _s("answer", "question_type", "answer_type")
                           + [("metadata", pa.struct(_s("category", "context", "grade")
                                                     + [("img_height", pa.int64()), ("img_width", pa.int64())]
                                                     + _s("language") + [("skills", pa.list_(pa.string()))]
                                                     + _s("source", "split", "task")))]
                           + _s("query")),
    "mathvision": pa.schema(_s("id", "question") + [("options", pa.list_(pa.string()))] + _s("image")
                            + [("decoded_image", IMAGE)] + _s("answer", "solution") + [("level", pa.int64())]
                            + _s("subject")),
    "logicvista": pa.schema(_s("question", "answer", "reasoning") + [("image", IMAGE)]
                            + _s("skill", "broad_capability", "specific_capability", "imagesource", "sourcelink",
                                 "liscenced", "id")),
    "wemath": pa.schema(_s("ID", "split", "knowledge concept", "question", "option", "answer") + [("image_path", IMAGE)]
                        + _s("key") + [("question number", pa.int64())] + _s("knowledge concept description")),
    "geometry3k": pa.schema([("images", pa.list_(IMAGE))] + _s("problem", "answer") + [("id", pa.int64()),
                            ("choices", pa.list_(pa.string()))] + _s("ground_truth")),
    "mmstar": pa.schema([("index", pa.int64())] + _s("question") + [("image", IMAGE)]
                        + _s("answer", "category", "l2_category")
                        + [("meta_info", pa.struct(_s("source", "split", "image_path")))]),
    "hallusionbench": pa.schema(_s("category", "subcategory", "visual_input", "set_id", "figure_id", "sample_note",
                                   "question_id", "question", "gt_answer_details", "gt_answer", "filename")
                                + [("image", IMAGE)]),
    "mmvet": pa.schema(_s("question_id") + [("image", IMAGE)] + _s("question", "answer", "image_source")
                       + [("capability", pa.list_(pa.string()))]),
    "mmmu": pa.schema(_s("id", "question", "options", "explanation") + [(f"image_{k}", IMAGE) for k in range(1, 8)]
                      + _s("img_type", "answer", "topic_difficulty", "question_type", "subfield")),
}


def _columns(kind: str, rows: list[dict]) -> dict:
    names = SCHEMAS[kind].names
    for r in rows:
        assert set(r) <= set(names), set(r) - set(names)
    return {n: [r.get(n) for r in rows] for n in names}


def _mathverse_rows():
    meta = {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"}
    base = {"problem_index": "1", "question_type": "multi-choice", "metadata": meta, "query_cot": ""}
    return [
        base | {"sample_index": "1", "problem_version": "Text Lite", "question": "Find the angle. Choices: A:30 B:40",
                "image": img(1), "answer": "B", "query_wo": "Find the angle. Choices: A:30 B:40"},
        base | {"sample_index": "5", "problem_version": "Vision Only", "question": "", "image": img(2), "answer": "B",
                "query_wo": "According to the question shown in the image, answer with the correct option letter."},
        base | {"sample_index": "10", "problem_index": "2", "problem_version": "Vision Only", "question": "",
                "image": img(3), "answer": "12", "question_type": "free-form",
                "query_wo": "According to the question shown in the image, give the final value."},
        base | {"sample_index": "15", "problem_index": "3", "problem_version": "Vision Only", "question": "",
                "image": img(4), "answer": None, "query_wo": "According to the question shown in the image."},
    ]


def _mathvista_rows():
    meta = {"category": "math-targeted-vqa", "context": "geometry diagram", "grade": "high school", "img_height": 32,
            "img_width": 32, "language": "english", "skills": ["geometry reasoning"], "source": "GeoQA+",
            "split": "testmini", "task": "geometry problem solving"}
    return [
        {"pid": "1", "question": "Which is longer?", "image": "images/1.jpg", "decoded_image": img(11),
         "choices": ["3 cm", "5 cm"], "unit": None, "precision": None, "answer": "5 cm", "question_type": "multi_choice",
         "answer_type": "text", "metadata": meta, "query": "Hint: ... Question: Which is longer?"},
        {"pid": "2", "question": "What is the area?", "image": "images/2.jpg", "decoded_image": img(12), "choices": None,
         "unit": "cm^2", "precision": 1.0, "answer": "12.5", "question_type": "free_form", "answer_type": "float",
         "metadata": meta, "query": "Hint: ... Question: What is the area?"},
        {"pid": "3", "question": "Which one?", "image": "images/3.jpg", "decoded_image": img(13),
         "choices": ["red", "blue"], "unit": None, "precision": None, "answer": "green", "question_type": "multi_choice",
         "answer_type": "text", "metadata": meta, "query": "..."},
        {"pid": "4", "question": "How many?", "image": "images/4.jpg", "decoded_image": img(NOT_AN_IMAGE), "choices": None,
         "unit": None, "precision": None, "answer": "3", "question_type": "free_form", "answer_type": "integer",
         "metadata": meta, "query": "..."},
    ]


def _mathvision_rows():
    base = {"image": "images/1.jpg", "solution": None, "level": 2, "subject": "metric geometry - angle"}
    return [
        base | {"id": "1", "question": "<image1>Which shape comes next?", "options": ["A", "B", "C", "D", "E"],
                "decoded_image": img(21), "answer": "C"},
        base | {"id": "2", "question": "How many cubes?\n<image1>", "options": ["1", "2", "3"], "decoded_image": img(22),
                "answer": "B"},
        base | {"id": "3", "question": "What is x?", "options": [], "decoded_image": img(23), "answer": "7"},
        base | {"id": "4", "question": "", "options": [], "decoded_image": img(24), "answer": "7"},
    ]


def _logicvista_rows():
    base = {"reasoning": "because", "skill": "inductive", "broad_capability": "patterns", "specific_capability": "x",
            "imagesource": "web", "sourcelink": "http://example.org", "liscenced": "yes"}
    return [
        base | {"id": "1", "question": "Which comes next? Select from A, B, C, D.", "answer": "C", "image": img(31)},
        base | {"id": "2", "question": "Which two are the same? Select from A-E.", "answer": "c, A", "image": img(32)},
        base | {"id": "3", "question": "Which one?", "answer": None, "image": img(33)},
    ]


def _wemath_rows():
    base = {"split": "testmini", "knowledge concept": "Area of rectangles", "key": "2steps_1", "question number": 1,
            "knowledge concept description": "..."}
    return [
        base | {"ID": "1-1", "question": "What is the area of the rectangle?",
                "option": "A. 3; B. 4; C. 5; D. 6; E. No correct answer", "answer": "B", "image_path": img(41)},
        base | {"ID": "2-1", "question": "Which is right?", "option": "see the figure", "answer": "A",
                "image_path": img(42)},
        base | {"ID": "3-1", "question": "Which is right?", "option": "A. 1; B. 2", "answer": "A",
                "image_path": {"bytes": None, "path": "3-1.png"}},
    ]


def _geometry3k_rows():
    return [
        {"images": [img(51)], "problem": "<image>Find x.", "answer": "3\\sqrt{3}", "id": 2401,
         "choices": ["3", "3\\sqrt{3}", "6", "9"], "ground_truth": "B"},
        {"images": [img(52)], "problem": "<image>Find the area of the figure.", "answer": "24", "id": 2402,
         "choices": ["12", "24", "36", "48"], "ground_truth": "B"},
        {"images": [], "problem": "<image>Find y.", "answer": "5", "id": 2403, "choices": ["1", "5", "7", "9"],
         "ground_truth": "B"},
    ]


def _mmstar_rows():
    meta = {"source": "MMBench", "split": "val", "image_path": "images/0.jpg"}
    return [
        {"index": 0, "question": "Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish", "image": img(61),
         "answer": "B", "category": "coarse perception", "l2_category": "image scene and topic", "meta_info": meta},
        {"index": 1, "question": None, "image": img(62), "answer": "A", "category": "math",
         "l2_category": "numeric commonsense", "meta_info": meta},
    ]


def _hallusionbench_rows():
    base = {"category": "VD", "subcategory": "illusion", "visual_input": "1", "set_id": "0", "sample_note": "circle",
            "gt_answer_details": "The two circles are the same size.", "filename": "./VD/illusion/0_0.png"}
    return [
        base | {"figure_id": "0", "question_id": "0", "question": "Is the left circle larger?", "gt_answer": "0",
                "image": img(71)},
        base | {"figure_id": "1", "question_id": "0", "question": "Is the left circle larger?", "gt_answer": "1",
                "image": img(72)},
        base | {"figure_id": "2", "question_id": "0", "question": "Is the left circle larger?", "gt_answer": "2",
                "image": img(73)},
    ]


def _mmvet_rows():
    return [
        {"question_id": "v1_0", "image": img(81), "question": "What is x in the equation?", "answer": "-1<AND>-5",
         "image_source": "MathVista", "capability": ["ocr", "math"]},
        {"question_id": "v1_1", "image": img(82), "question": "How many apples?", "answer": "3",
         "image_source": "web", "capability": ["rec"]},
    ]


def _mmmu_rows():
    no_images = {f"image_{k}": None for k in range(2, 8)}
    base = {"explanation": "", "img_type": "['Diagrams']", "topic_difficulty": "Medium", "subfield": "Statics"}
    return [
        base | no_images | {"id": "validation_Mechanical_1", "question": "<image 1> Which member is in tension?",
                            "options": "['<image 2>', 'member BC', 'member CD']", "image_1": img(91),
                            "image_2": img(92), "answer": "A", "question_type": "multiple-choice"},
        base | no_images | {"id": "validation_Mechanical_2", "question": "Compute the force in N. <image 1>",
                            "options": "[]", "image_1": img(93), "answer": "24", "question_type": "open"},
        base | no_images | {"id": "test_Mechanical_3", "question": "<image 1> Which?", "options": "['a', 'b']",
                            "image_1": img(94), "answer": "?", "question_type": "multiple-choice"},
        base | no_images | {"id": "validation_Mechanical_4", "question": "<image 1> Which?", "options": "['a', 'b'",
                            "image_1": img(95), "answer": "B", "question_type": "multiple-choice"},
    ]


ROWS = {"mathverse": _mathverse_rows, "mathvista": _mathvista_rows, "mathvision": _mathvision_rows,
        "logicvista": _logicvista_rows, "wemath": _wemath_rows, "geometry3k": _geometry3k_rows, "mmstar": _mmstar_rows,
        "hallusionbench": _hallusionbench_rows, "mmvet": _mmvet_rows, "mmmu": _mmmu_rows}


def benchmark_file(kind: str, folder: Path, name: str | None = None) -> Path:
    """A small parquet of ``kind`` with its card's exact columns and types."""
    return write(folder / (name or f"{kind}-source.parquet"), _columns(kind, ROWS[kind]()), SCHEMAS[kind])


def rows_file(kind: str, path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    """A parquet of ``rows`` (dicts with some of the card's columns; the others are null) with the
    card's columns and types of ``kind`` (or ``schema``)."""
    schema = schema or SCHEMAS[kind]
    return write(path, {n: [r.get(n) for r in rows] for n in schema.names}, schema)


def mmstar_row(index: int, question: str = "Which one?\nOptions: A: 1, B: 2", answer="A", image_seed: int = 61,
               category: str | None = "math") -> dict:
    return {"index": index, "question": question, "image": img(image_seed), "answer": answer, "category": category,
            "l2_category": "x", "meta_info": {"source": "MMBench", "split": "val", "image_path": f"{index}.jpg"}}


@contextlib.contextmanager
def unwritable_folder(path: Path):
    """An existing folder no file can be created in: ``chmod 555``, or for root (whom permissions do
    not stop) the immutable attribute (``chattr +i``); skips the test when neither works here."""
    import pytest

    path.mkdir(parents=True)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True) if shutil.which("chattr") else None
        if done is None or done.returncode != 0:
            path.rmdir()
            pytest.skip("running as root without a working chattr: no way to make a folder unwritable")
    else:
        path.chmod(0o555)
    try:
        yield path
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        else:
            path.chmod(0o755)
