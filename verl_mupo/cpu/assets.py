"""Tiny offline assets for the CPU smoke run: a word-level tokenizer with a Qwen-style chat
template, a randomly initialised Qwen2 causal LM, and arithmetic prompts in verl's RL parquet schema.

Built from code, nothing downloaded::

    python -m verl_mupo.cpu.assets --out .mupo_assets

The vocabulary is small (about 170 tokens) and contains ``\\boxed{0}`` ... ``\\boxed{9}`` as single
tokens, so a random policy writes a boxed digit in most 16-token responses and hits the
single-digit answer about one time in ten: accuracy is sometimes 1 and MUPO's precision-gated
diversity term fires from the first step.
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


def build_tokenizer(out_dir: str | Path):
    """Byte-level BPE (the Qwen2 tokenizer's format) trained on the task's words, with the boxed
    digits and think tags as whole added tokens; saved in ``out_dir`` with a Qwen-style chat
    template. Returns the reloaded ``transformers`` tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = WORDS + [" " + w for w in WORDS] + ["\n", " \n", INSTRUCTION]
    tok.train_from_iterator(corpus * 4, trainers.BpeTrainer(vocab_size=160, special_tokens=SPECIALS, show_progress=False))
    tok.add_tokens([AddedToken(t, normalized=False, single_word=False) for t in ANSWER_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return AutoTokenizer.from_pretrained(str(out_dir))


def build_model(out_dir: str | Path, vocab_size: int, seed: int = 0, hidden_size: int = 64, layers: int = 2):
    """A randomly initialised ``Qwen2ForCausalLM`` (about 100k parameters) saved in ``out_dir``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
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


def build_all(out: str | Path, seed: int = 0, train_rows: int = 64, val_rows: int = 8) -> dict:
    """Everything the smoke run needs under ``out``; returns the paths. Skips what exists."""
    out = Path(out)
    model_dir = out / "tiny-qwen2"
    paths = {"model": str(model_dir), "train": str(out / "train.parquet"), "val": str(out / "val.parquet")}
    marker = out / "assets.json"
    if marker.exists() and json.loads(marker.read_text()) == {**paths, "seed": seed}:
        return paths
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(model_dir)
    build_model(model_dir, vocab_size=len(tokenizer), seed=seed)
    build_dataset(paths["train"], train_rows, seed, "train")
    build_dataset(paths["val"], val_rows, seed + 1, "test")
    marker.write_text(json.dumps({**paths, "seed": seed}))
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".mupo_assets", help="output folder (default: .mupo_assets)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(json.dumps(build_all(args.out, seed=args.seed), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
