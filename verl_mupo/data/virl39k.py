"""ViRL39K release -> verl's RL parquet, with a contamination guard against the evaluation sets.

    python -m verl_mupo.data.virl39k --release /data/ViRL39K --out /data/mupo/virl39k \\
        --eval-dir /data/mupo/eval [--drop-text-only] [--max-pass-rate 0.9] [--holdout 0.01]

Input: the release folder with ``39Krelease.parquet`` (columns ``question``, ``answer``, ``image``
[relative paths], ``category``, ``source``, ``qid``, ``PassRate_32BTrained``, ``PassRate_7BBase``)
and ``images.zip`` (read member by member, never extracted whole).

Output rows (``train.parquet``, and ``holdout.parquet`` with ``--holdout``):

- ``data_source``: ``virl39k``;
- ``prompt``: one user turn, the question with exactly one ``<image>`` per image (missing
  placeholders are added in front, extra ones removed) followed by the instruction that asks for
  ``<think>...</think>`` and a final ``\\boxed{}``;
- ``images``: ``[{"bytes": ...}]`` read from the zip;
- ``ability``: the category; ``reward_model``: ``{"style": "rule", "ground_truth": answer without
  its outer \\boxed{}}``; ``extra_info``: qid, category, source, both pass rates, index, split.

Contamination guard (on by default when ``--eval-dir`` is given): a training row is dropped when its
normalised question text equals an evaluation question, or one of its images is within
``--phash-distance`` bits (64-bit difference hash) of an evaluation image. Evaluation sets are verl
parquets (``prompt`` and ``images`` columns), e.g. the ones the recipes validate on.

Everything dropped or repaired is counted and printed, with the reason.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."
)
DATA_SOURCE = "virl39k"
RELEASE_COLUMNS = ("question", "answer", "image", "category", "source", "qid", "PassRate_32BTrained", "PassRate_7BBase")

__all__ = ["convert", "strip_outer_boxed", "fix_placeholders", "normalise_question", "dhash", "hamming"]


def strip_outer_boxed(answer: str) -> str:
    """``\\boxed{A}`` -> ``A`` (balanced braces); other text unchanged, stripped."""
    s = str(answer).strip()
    m = re.fullmatch(r"\\boxed\s*\{(.*)\}", s, flags=re.DOTALL)
    if m:
        inner, depth = m.group(1), 0
        for ch in inner:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                return s
        if depth == 0:
            return inner.strip()
    return s


def fix_placeholders(question: str, num_images: int) -> tuple[str, str | None]:
    """Exactly ``num_images`` ``<image>`` placeholders. Returns ``(text, repair)`` where repair is
    ``None``, ``"added"`` or ``"removed"``."""
    count = question.count("<image>")
    if count == num_images:
        return question, None
    if count < num_images:
        return "<image>" * (num_images - count) + question, "added"
    parts = question.split("<image>")
    kept = "<image>".join(parts[: num_images + 1]) + "".join(parts[num_images + 1 :])
    return kept, "removed"


def normalise_question(text: str) -> str:
    """Lower-case alphanumerics only, without image placeholders and the instruction."""
    text = text.replace(INSTRUCTION, "").replace("<image>", " ")
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def dhash(image_bytes: bytes, size: int = 8) -> int:
    """64-bit difference hash of an image (robust to re-encoding and resizing)."""
    from PIL import Image

    with Image.open(io.BytesIO(image_bytes)) as im:
        g = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def _eval_index(eval_dir: Path) -> tuple[set[str], list[int], int]:
    import pandas as pd

    questions: set[str] = set()
    hashes: list[int] = []
    files = sorted(eval_dir.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no *.parquet evaluation sets in {eval_dir} (--eval-dir)")
    for f in files:
        df = pd.read_parquet(f)
        for prompt in df["prompt"]:
            text = " ".join(m["content"] for m in prompt if m.get("role") == "user")
            questions.add(normalise_question(text))
        if "images" in df.columns:
            for imgs in df["images"]:
                for img in imgs if imgs is not None else []:
                    data = img.get("bytes") if isinstance(img, dict) else img
                    if data:
                        hashes.append(dhash(data))
    return questions, hashes, len(files)


def convert(release: str | Path, out: str | Path, eval_dir: str | Path | None = None, drop_text_only: bool = False,
            min_pass_rate: float | None = None, max_pass_rate: float | None = None, holdout: float = 0.0,
            seed: int = 0, phash_distance: int = 4, dedupe: bool = True) -> dict:
    """Convert the release; returns the counts it prints."""
    import pandas as pd

    release, out = Path(release), Path(out)
    table = pd.read_parquet(release / "39Krelease.parquet")
    missing = [c for c in RELEASE_COLUMNS if c not in table.columns]
    if "PassRate_7BBase" in missing and "PassRate_7BUntrained" in table.columns:  # an older alias
        table = table.rename(columns={"PassRate_7BUntrained": "PassRate_7BBase"})
        missing.remove("PassRate_7BBase")
    if missing:
        raise ValueError(f"{release / '39Krelease.parquet'} lacks columns {missing}; is this the ViRL39K release?")
    eval_q, eval_h, n_eval = (set(), [], 0)
    if eval_dir is not None:
        eval_q, eval_h, n_eval = _eval_index(Path(eval_dir))
    eval_h_arr = np.array(eval_h, dtype=np.uint64) if eval_h else None
    counts: Counter = Counter(rows_in=len(table), eval_sets=n_eval)
    rows = []
    with zipfile.ZipFile(release / "images.zip") as zf:
        names = set(zf.namelist())
        for i, r in enumerate(table.itertuples(index=False)):
            paths = list(r.image) if r.image is not None else []
            if not paths and drop_text_only:
                counts["dropped_text_only"] += 1
                continue
            rate = float(r.PassRate_7BBase)
            if rate >= 0 and ((min_pass_rate is not None and rate < min_pass_rate) or
                              (max_pass_rate is not None and rate > max_pass_rate)):
                counts["dropped_pass_rate"] += 1
                continue
            images = []
            for p in paths:
                member = p if p in names else next((n for n in (f"images/{Path(p).name}", Path(p).name) if n in names), None)
                if member is None:
                    break
                images.append(zf.read(member))
            if len(images) != len(paths):
                counts["dropped_missing_image"] += 1
                continue
            question, repair = fix_placeholders(str(r.question), len(images))
            if repair:
                counts[f"repaired_placeholders_{repair}"] += 1
            match = None
            if eval_q and normalise_question(question) in eval_q:
                match = "question"
            elif eval_h_arr is not None and images:
                hs = [dhash(b) for b in images]
                if any(min(hamming(h, int(e)) for e in eval_h_arr) <= phash_distance for h in hs):
                    match = "image"
            if match:
                counts[f"{'dropped' if dedupe else 'kept'}_eval_{match}_match"] += 1
                if dedupe:
                    continue
            gt = strip_outer_boxed(r.answer)
            if not gt:
                counts["dropped_empty_answer"] += 1
                continue
            rows.append({
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": f"{question} {INSTRUCTION}"}],
                "images": [{"bytes": b} for b in images],
                "ability": str(r.category),
                "reward_model": {"style": "rule", "ground_truth": gt},
                "extra_info": {"index": i, "qid": str(r.qid), "category": str(r.category), "source": str(r.source),
                               "pass_rate_32b_trained": float(r.PassRate_32BTrained), "pass_rate_7b_base": rate,
                               "question": question},
            })
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    n_hold = int(round(holdout * len(rows)))
    hold_idx, train_idx = set(order[:n_hold].tolist()), order[n_hold:]
    out.mkdir(parents=True, exist_ok=True)
    train = [rows[j] | {"extra_info": rows[j]["extra_info"] | {"split": "train"}} for j in sorted(train_idx)]
    pd.DataFrame(train).to_parquet(out / "train.parquet")
    if n_hold:
        hold = [rows[j] | {"extra_info": rows[j]["extra_info"] | {"split": "holdout"}} for j in sorted(hold_idx)]
        pd.DataFrame(hold).to_parquet(out / "holdout.parquet")
    counts.update(rows_train=len(train), rows_holdout=n_hold)
    return dict(counts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", required=True, help="folder with 39Krelease.parquet and images.zip")
    p.add_argument("--out", required=True)
    p.add_argument("--eval-dir", help="evaluation parquets to deduplicate against (recommended)")
    p.add_argument("--keep-contaminated", action="store_true", help="report matches but keep them")
    p.add_argument("--drop-text-only", action="store_true")
    p.add_argument("--min-pass-rate", type=float)
    p.add_argument("--max-pass-rate", type=float)
    p.add_argument("--holdout", type=float, default=0.0, help="fraction held out as holdout.parquet")
    p.add_argument("--phash-distance", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    counts = convert(a.release, a.out, a.eval_dir, a.drop_text_only, a.min_pass_rate, a.max_pass_rate,
                     a.holdout, a.seed, a.phash_distance, dedupe=not a.keep_contaminated)
    print(json.dumps(counts, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
