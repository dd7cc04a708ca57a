"""Tiny offline assets for the CPU smoke run, built from code, nothing downloaded::

    python -m verl_mupo.cpu.assets --kind vl --out .mupo_assets      # the default of the smoke run
    python -m verl_mupo.cpu.assets --kind text --out .mupo_assets_text

- ``vl``: a randomly initialised ``Qwen2_5_VLForConditionalGeneration`` (about 0.18 M parameters), a
  ``Qwen2_5_VLProcessor`` whose chat template renders image items, a byte-level BPE tokenizer with
  the vision tokens (about 300 tokens), and dot-counting questions about 56x56 pictures, written as a
  folder shaped like the ViRL39K release and converted by ``python -m verl_mupo.data.virl39k``.
- ``text``: a randomly initialised ``Qwen2ForCausalLM`` (about 0.1 M parameters), a tokenizer of
  about 170 tokens with a Qwen-style chat template, and single-digit arithmetic prompts in verl's
  RL parquet schema.

Both vocabularies hold ``\\boxed{0}`` ... ``\\boxed{9}`` as single tokens, so a random policy writes
a boxed digit in most 16-token responses and hits the single-digit answer about one time in ten:
accuracy is sometimes 1 and MUPO's precision-gated diversity term fires from the first steps.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ANSWER_TOKENS = [f"\\boxed{{{d}}}" for d in range(10)] + ["<think>", "</think>"]
WORDS = (
    "system user assistant what is plus minus ? . , = + - the answer think so count add take then first "
    "we get step because check guess maybe sum result it put final in a and of to 0 1 2 3 4 5 6 7 8 9"
).split()
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
INSTRUCTION = "think in <think> </think> then put the final answer in \\boxed{} ."
DATA_SOURCE = "mupo_smoke"
# the text models' attention head size: vLLM's CPU attention (vllm 0.24, cpu_attn.py) supports 32, 64,
# 80, ... but not 16, and both rollouts (hf and vllm) use the same assets so that they stay comparable
HEAD_DIM = 32
# Qwen2.5-VL's rotary sections (temporal, height, width) in pairs of dimensions: they sum to HEAD_DIM / 2
VL_MROPE_SECTION = (4, 6, 6)
# bumped whenever the built assets change, so a cached folder built by older code is rebuilt
ASSETS_VERSION = 2


def build_tokenizer(out_dir: str | Path, words=WORDS, texts=(INSTRUCTION,), vocab_size: int = 160,
                    extra_specials=(), chat_template: str = CHAT_TEMPLATE):
    """Byte-level BPE (the Qwen2 tokenizer's format) trained on the task's ``words`` and ``texts``,
    with the boxed digits and think tags as whole added tokens and ``extra_specials`` (e.g. the
    vision tokens) as special tokens; saved in ``out_dir`` with ``chat_template``. Returns the
    reloaded ``transformers`` tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = list(words) + [" " + w for w in words] + ["\n", " \n", *texts]
    tok.train_from_iterator(corpus * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                            show_progress=False))
    tok.add_tokens([AddedToken(t, normalized=False, single_word=False) for t in ANSWER_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", *extra_specials])
    fast.chat_template = chat_template
    fast.save_pretrained(str(out_dir))
    return AutoTokenizer.from_pretrained(str(out_dir))


def build_model(out_dir: str | Path, vocab_size: int, seed: int = 0, hidden_size: int = 64, layers: int = 2):
    """A randomly initialised ``Qwen2ForCausalLM`` (about 100k parameters) saved in ``out_dir``: heads of
    :data:`HEAD_DIM` (``hidden_size // HEAD_DIM`` query heads, one key/value head)."""
    if hidden_size % HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of HEAD_DIM={HEAD_DIM}, got {hidden_size}")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=hidden_size // HEAD_DIM, num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True, eos_token_id=SPECIALS.index("<|im_end|>"),
        pad_token_id=SPECIALS.index("<|endoftext|>"), bos_token_id=None,
    )
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.save_pretrained(str(out_dir))
    return model


def build_dataset(path: str | Path, rows: int, seed: int, split: str) -> None:
    """Single-digit additions and subtractions in verl's RL parquet schema."""
    import pandas as pd

    rng = random.Random(seed)
    records = []
    for i in range(rows):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        if a + b <= 9 and rng.random() < 0.5:
            q, ans = f"what is {a} plus {b} ?", a + b
        else:
            a, b = max(a, b), min(a, b)
            q, ans = f"what is {a} minus {b} ?", a - b
        records.append({
            "data_source": DATA_SOURCE,
            "prompt": [{"role": "user", "content": f"{q} {INSTRUCTION}"}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(ans)},
            "extra_info": {"index": i, "split": split, "question": q},
        })
    pd.DataFrame(records).to_parquet(str(path))


# --- the vision-language assets -------------------------------------------------------------------

VL_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2.5-VL's chat template, reduced: string content as is, list content item by item, an image item
# as <|vision_start|><|image_pad|><|vision_end|> (the processor expands <|image_pad|> to one token
# per merged 28x28 patch)
VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' or 'video' in item %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VL_WORDS = WORDS + "how many dots are there in image picture count all can you see here".split()
# three phrasings of one question, every word one token, the image first: all prompts have the same
# length, so a run whose responses all reach the maximum length (rollout.ignore_eos=True) has
# equal-length batches
VL_QUESTIONS = ("<image>how many dots are in the image ?", "<image>count all the dots in the picture .",
                "<image>how many dots can you see here ?")
VL_DATA_SOURCE = "mupo_smoke_vl"
IMAGE_SIZE = 56  # one 56x56 image = a 4x4 grid of 14-pixel patches = 4 image tokens after the 2x2 merge


def dots_image(count: int, seed: int, size: int = IMAGE_SIZE) -> bytes:
    """A PNG of ``count`` black dots on white, placed from ``seed``."""
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    im = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(im)
    for _ in range(count):
        x, y = rng.randint(4, size - 5), rng.randint(4, size - 5)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill="black")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def build_release_fixture(folder: str | Path, rows: int, seed: int) -> Path:
    """A folder shaped like the ViRL39K release (``39Krelease.parquet`` with the release's columns and
    types, ``images.zip`` with the images under ``images/``): dot-counting questions whose boxed answer
    is the number of dots in the picture."""
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    cols: dict[str, list] = {k: [] for k in ("question", "answer", "image", "category", "source", "qid",
                                             "PassRate_32BTrained", "PassRate_7BBase")}
    with zipfile.ZipFile(folder / "images.zip", "w") as zf:
        for i in range(rows):
            count = rng.randint(0, 9)
            name = f"images/dots_{i:04d}.png"
            zf.writestr(name, dots_image(count, seed * 100003 + i))
            cols["question"].append(VL_QUESTIONS[i % len(VL_QUESTIONS)])
            cols["answer"].append(f"\\boxed{{{count}}}")
            cols["image"].append([name])
            cols["category"].append("Counting")
            cols["source"].append("mupo_smoke")
            cols["qid"].append(f"smoke_{i:04d}")
            cols["PassRate_32BTrained"].append(0.5)
            cols["PassRate_7BBase"].append(0.5)
    schema = pa.schema([("question", pa.string()), ("answer", pa.string()), ("image", pa.list_(pa.string())),
                        ("category", pa.string()), ("source", pa.string()), ("qid", pa.string()),
                        ("PassRate_32BTrained", pa.float32()), ("PassRate_7BBase", pa.float32())])
    pq.write_table(pa.Table.from_pydict(cols, schema=schema), folder / "39Krelease.parquet")
    return folder


def build_vl_processor(model_dir: str | Path, tokenizer):
    """``Qwen2_5_VLProcessor`` (image processor limited to 56x56..112x112 pixels, the video processor
    that needs torchvision, ``tokenizer``, :data:`VL_CHAT_TEMPLATE`), saved in ``model_dir``."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=IMAGE_SIZE * IMAGE_SIZE, max_pixels=4 * IMAGE_SIZE * IMAGE_SIZE),
        tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(), chat_template=VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(str(model_dir))
    return processor


def build_vl_model(out_dir: str | Path, tokenizer, seed: int = 0):
    """A randomly initialised ``Qwen2_5_VLForConditionalGeneration`` (about 0.2 M parameters): text
    hidden 64, 2 layers, vision depth 2,
    hidden 32, patch 14, 2x2 merge to the text width. Text: 2 heads of :data:`HEAD_DIM` = 32, one
    key/value head, ``mrope_section`` :data:`VL_MROPE_SECTION` ([4, 6, 6], sums to 32 / 2)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in VL_SPECIALS}
    torch.manual_seed(seed)
    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=64 // HEAD_DIM, num_key_value_heads=1, max_position_embeddings=1024,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": list(VL_MROPE_SECTION)},
            tie_word_embeddings=True, eos_token_id=SPECIALS.index("<|im_end|>"),
            pad_token_id=SPECIALS.index("<|endoftext|>"), bos_token_id=None,
        ),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64, window_size=56,
                           fullatt_block_indexes=[1]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = SPECIALS.index("<|im_end|>")
    model.generation_config.pad_token_id = SPECIALS.index("<|endoftext|>")
    model.save_pretrained(str(out_dir))
    return model


def build_vl_dataset(out: Path, rows: int, seed: int, python: str | None = None) -> dict:
    """A release-shaped fixture converted by the project's own ViRL39K converter
    (``python -m verl_mupo.data.virl39k``) into ``train.parquet`` and ``holdout.parquet`` (1/9 held
    out), which verl's ``RLHFDataset`` reads with the processor."""
    import subprocess
    import sys

    release = build_release_fixture(out / "release", rows, seed)
    data_dir = out / "virl39k"
    cmd = [python or sys.executable, "-m", "verl_mupo.data.virl39k", "--release", str(release), "--out", str(data_dir),
           "--holdout", str(1 / 9), "--seed", str(seed), "--overwrite"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the ViRL39K converter failed on the smoke fixture ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return {"train": str(data_dir / "train.parquet"), "val": str(data_dir / "holdout.parquet")}


KINDS = ("vl", "text")


def build_all(out: str | Path, seed: int = 0, *, kind: str, train_rows: int = 64, val_rows: int = 8) -> dict:
    """Everything the smoke run needs under ``out``; returns the paths. Skips what exists.

    ``kind="vl"``: the tiny Qwen2.5-VL, its processor and dot-counting questions with images, made
    by the ViRL39K converter from a release-shaped fixture (``train_rows + val_rows`` rows, 1/9 held
    out). ``kind="text"``: the tiny Qwen2 and single-digit arithmetic, no images."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = Path(out)
    model_dir = out / ("tiny-qwen2.5-vl" if kind == "vl" else "tiny-qwen2")
    paths = {"model": str(model_dir), "train": str(out / "train.parquet"), "val": str(out / "val.parquet")}
    if kind == "vl":
        paths.update(train=str(out / "virl39k" / "train.parquet"), val=str(out / "virl39k" / "holdout.parquet"))
    marker = out / "assets.json"
    stamp = {**paths, "seed": seed, "kind": kind, "version": ASSETS_VERSION}
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return paths
    out.mkdir(parents=True, exist_ok=True)
    if kind == "vl":
        from verl_mupo.data.virl39k import INSTRUCTION as VIRL39K_INSTRUCTION

        tokenizer = build_tokenizer(model_dir, words=VL_WORDS, texts=(VIRL39K_INSTRUCTION,), vocab_size=400,
                                    extra_specials=VL_SPECIALS, chat_template=VL_CHAT_TEMPLATE)
        build_vl_processor(model_dir, tokenizer)
        build_vl_model(model_dir, tokenizer, seed=seed)
        build_vl_dataset(out, train_rows + val_rows, seed)
    else:
        tokenizer = build_tokenizer(model_dir)
        build_model(model_dir, vocab_size=len(tokenizer), seed=seed)
        build_dataset(paths["train"], train_rows, seed, "train")
        build_dataset(paths["val"], val_rows, seed + 1, "test")
    marker.write_text(json.dumps(stamp))
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".mupo_assets", help="output folder (default: .mupo_assets)")
    p.add_argument("--kind", choices=KINDS, default="vl", help="vl: tiny Qwen2.5-VL with images (default); text: tiny Qwen2")
    p.add_argument("--seed", type=int, default=0, help="seed of the model, the pictures and the split (>= 0)")
    args = p.parse_args(argv)
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    print(json.dumps(build_all(args.out, seed=args.seed, kind=args.kind), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
