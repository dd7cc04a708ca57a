"""Evaluation benchmarks (as downloaded from the hub in parquet) -> verl's RL parquet, for
validation during training and for the contamination guard.

    python -m verl_mupo.data.benchmarks mathvista /data/hf/MathVista/data/testmini-*.parquet --out /data/mupo/eval/mathvista.parquet
    python -m verl_mupo.data.benchmarks generic /data/x.parquet --out /data/mupo/eval/x.parquet \\
        --name LogicVista --question-col question --answer-col answer --image-col image

Adapters for the schemas on the datasets' cards (checked for MathVista, MathVerse and MMStar;
MathVision from its card, not checked against a file here), and ``generic`` for any other set with a
question, an answer and an image column. Output rows: ``data_source`` (the benchmark name, which the
acc@k report groups by), ``prompt`` (the question with one ``<image>`` per image, the options as
``A. ...`` lines when the set has them, and the same instruction as training), ``images``
(``[{"bytes"}]``), ``ability``, ``reward_model.ground_truth`` (an option letter for multiple choice),
``extra_info`` (id, options, question).
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

from verl_mupo.data.virl39k import INSTRUCTION, fix_placeholders, strip_outer_boxed

LETTERS = "ABCDEFGHIJ"


def _image_bytes(value) -> bytes | None:
    """HF image columns are stored as ``{"bytes", "path"}`` structs; raw bytes are accepted too."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        return value.get("bytes")
    return None


def _row(name: str, idx, question: str, answer: str, image, options=None, ability: str = "math") -> dict | None:
    img = _image_bytes(image)
    images = [img] if img else []
    q = question.strip()
    opts = [str(o) for o in options] if options is not None and len(options) else []
    gt = strip_outer_boxed(str(answer))
    if opts:
        q += "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(opts[: len(LETTERS)]))
        if gt in opts:  # answer given as the option's text
            gt = LETTERS[opts.index(gt)]
    q, _ = fix_placeholders(q.replace("<image>", "").strip(), len(images))
    if not gt:
        return None
    return {
        "data_source": name,
        "prompt": [{"role": "user", "content": f"{q} {INSTRUCTION}"}],
        "images": [{"bytes": b} for b in images],
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": gt},
        "extra_info": {"id": str(idx), "options": opts, "question": question, "split": "test"},
    }


def mathvista(df):
    for r in df.itertuples(index=False):
        opts = list(r.choices) if getattr(r, "choices", None) is not None else None
        yield _row("MathVista", r.pid, r.question, r.answer, r.decoded_image,
                   opts if r.question_type == "multi_choice" else None)


def mathverse(df, version: str = "Vision Only"):
    for r in df.itertuples(index=False):
        if version and r.problem_version != version:
            continue
        # vision-only items carry the whole question in the image; query_wo is the bare instruction
        yield _row("MathVerse", r.sample_index, r.question or r.query_wo, r.answer, r.image)


def mmstar(df):
    for r in df.itertuples(index=False):
        yield _row("MMStar", r.index, r.question, r.answer, r.image, ability=str(r.category))


def mathvision(df):
    for r in df.itertuples(index=False):
        opts = list(r.options) if getattr(r, "options", None) is not None and len(r.options) else None
        yield _row("MathVision", r.id, r.question, r.answer, getattr(r, "decoded_image", None) or r.image, opts)


ADAPTERS = {"mathvista": mathvista, "mathverse": mathverse, "mmstar": mmstar, "mathvision": mathvision}


def convert(kind: str, files: list[str], out: str | Path, name: str | None = None, question_col="question",
            answer_col="answer", image_col="image", options_col: str | None = None) -> dict:
    import pandas as pd

    paths = [p for f in files for p in sorted(glob.glob(f))] or files
    df = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    if kind == "generic":
        if not name:
            raise ValueError("generic conversion needs --name (the data_source the report groups by)")
        missing = [c for c in (question_col, answer_col, image_col) if c not in df.columns]
        if missing:
            raise ValueError(f"columns {missing} not in {list(df.columns)}; set --question-col/--answer-col/--image-col")
        rows = (_row(name, i, str(q), str(a), img, df[options_col].iloc[i] if options_col else None)
                for i, (q, a, img) in enumerate(zip(df[question_col], df[answer_col], df[image_col])))
    elif kind in ADAPTERS:
        rows = ADAPTERS[kind](df)
    else:
        raise ValueError(f"unknown benchmark {kind!r}; known: {sorted(ADAPTERS)} or generic")
    kept = [r for r in rows if r is not None]
    if name and kind != "generic":
        for r in kept:
            r["data_source"] = name
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(kept).to_parquet(out)
    return {"rows_in": len(df), "rows_out": len(kept), "with_image": sum(bool(r["images"]) for r in kept)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=sorted(ADAPTERS) + ["generic"])
    p.add_argument("files", nargs="+", help="downloaded parquet files (globs allowed)")
    p.add_argument("--out", required=True)
    p.add_argument("--name", help="data_source to write (default: the benchmark's name)")
    p.add_argument("--question-col", default="question")
    p.add_argument("--answer-col", default="answer")
    p.add_argument("--image-col", default="image")
    p.add_argument("--options-col")
    a = p.parse_args(argv)
    print(json.dumps(convert(a.kind, a.files, a.out, a.name, a.question_col, a.answer_col, a.image_col, a.options_col)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
