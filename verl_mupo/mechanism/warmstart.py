"""Data and the warm-started policy for the mechanism experiment, built offline.

    python -m verl_mupo.mechanism.warmstart --out runs/mechanism/assets

writes, under ``--out``:

- ``train.parquet`` / ``heldout.parquet``: the task's problems (:mod:`verl_mupo.mechanism.task`) in
  verl's RL schema, split by ``--data-seed`` (``--heldout`` problems held out, never trained on, not
  even by the warm start);
- ``policy/``: a byte-level BPE tokenizer in the Qwen2 format (:func:`verl_mupo.cpu.assets.build_tokenizer`
  on the task's words) and a ``Qwen2ForCausalLM`` (hidden 64, 2 layers, about 90 k parameters),
  supervised on *mixture traces*: for every training problem, in every epoch, a strategy drawn
  uniformly (whatever the problem's class) and carried out wrongly with probability
  ``--error-rate``. The result imitates a base model: it knows the three strategies, picks among them
  at random and makes execution errors, so RL starts from a diverse policy with middling accuracy;
- ``assets.json``: the paths, the settings and the warm-started policy's measured behaviour on the
  held-out problems (strategy shares, execution accuracy, acc@1).

A plain torch loop (AdamW, loss on the response tokens only), not verl's SFT trainer: see
docs/mechanism.md for why. Skips the work when ``assets.json`` records the same settings.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

from verl_mupo.mechanism import task

__all__ = ["WarmStartConfig", "prepare", "sft_batch", "sample_responses", "describe_policy"]


class WarmStartConfig:
    """Settings of the data and the warm start (all explicit, validated here).

    Args:
        data_seed: shuffles the problems before the held-out split (default 0).
        heldout: problems held out for evaluation (default 256 of 2520).
        class_weights: share of problems whose key is ``first``'s, ``second``'s, ``last``'s answer.
        model_seed: initialisation and SFT sampling (default 0).
        hidden_size, layers: the Qwen2 model (default 64, 2: about 90 k parameters).
        error_rate: share of SFT traces carried out wrongly (default 0.3).
        steps, batch_size, lr: the SFT loop (default 300 steps of 64 sequences, AdamW 3e-3, cosine).
    """

    def __init__(self, data_seed: int = 0, heldout: int = 256, class_weights=task.CLASS_WEIGHTS, model_seed: int = 0,
                 hidden_size: int = 64, layers: int = 2, error_rate: float = 0.3, steps: int = 300,
                 batch_size: int = 64, lr: float = 3e-3):
        if not 0.0 <= error_rate < 1.0:
            raise ValueError(f"error_rate must be in [0, 1), got {error_rate}")
        if steps < 1 or batch_size < 1 or lr <= 0:
            raise ValueError(f"steps, batch_size and lr must be positive, got {steps}, {batch_size}, {lr}")
        if hidden_size % 8 or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive multiple of 8 (4 heads of even size), got {hidden_size}")
        task.problem_class((0, 9, 1, 2), class_weights)  # validates the weights
        self.data_seed, self.heldout, self.class_weights = int(data_seed), int(heldout), tuple(map(float, class_weights))
        self.model_seed, self.hidden_size, self.layers = int(model_seed), int(hidden_size), int(layers)
        self.error_rate, self.steps, self.batch_size, self.lr = float(error_rate), int(steps), int(batch_size), float(lr)

    def as_dict(self) -> dict:
        return dict(vars(self), class_weights=list(self.class_weights))


def _prompt_ids(tokenizer, digits) -> list[int]:
    messages = [{"role": "user", "content": task.problem_text(digits)}]
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def sft_batch(tokenizer, problems, rng: random.Random, error_rate: float):
    """``(input_ids, labels, attention_mask)`` tensors for one batch of mixture traces, right padded;
    ``labels`` is -100 on the prompt and the padding (the loss covers the response and its end token).
    Prompt and response are tokenized apart, as the rollout sees them."""
    import torch

    seqs = []
    for digits in problems:
        prompt = _prompt_ids(tokenizer, digits)
        response = tokenizer(task.trace(rng.choice(task.STRATEGY_NAMES), rng, error_rate),
                             add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append((prompt, response))
    width = max(len(p) + len(r) for p, r in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (p, r) in enumerate(seqs):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        labels[i, len(p): len(p) + len(r)] = torch.tensor(r)
        mask[i, : len(p) + len(r)] = 1
    return ids, labels, mask


def train_sft(model, tokenizer, problems, cfg: WarmStartConfig, log=print) -> list[float]:
    """The SFT loop; returns the loss of every step."""
    import torch

    rng = random.Random(cfg.model_seed)
    torch.manual_seed(cfg.model_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 30) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    model.train()
    losses = []
    order: list = []
    for step in range(cfg.steps):
        if len(order) < cfg.batch_size:
            order = list(problems)
            rng.shuffle(order)
        batch, order = order[: cfg.batch_size], order[cfg.batch_size:]
        ids, labels, mask = sft_batch(tokenizer, batch, rng, cfg.error_rate)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == cfg.steps - 1:
            log(f"sft step {step:4d}  loss {loss.item():.4f}")
    model.eval()
    return losses


def sample_responses(model, tokenizer, problems, n: int, max_new_tokens: int = 24, temperature: float = 1.0,
                     seed: int = 0, batch_size: int = 256) -> list[list[str]]:
    """``n`` sampled responses per problem (left-padded batches, ``transformers.generate``)."""
    import torch

    torch.manual_seed(seed)
    prompts = [_prompt_ids(tokenizer, d) for d in problems for _ in range(n)]
    texts = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start: start + batch_size]
        width = max(map(len, chunk))
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(chunk):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=temperature, top_k=0,
                                 top_p=1.0, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
        texts += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [texts[i * n: (i + 1) * n] for i in range(len(problems))]


def describe_policy(problems, responses, weights=task.CLASS_WEIGHTS) -> dict:
    """Strategy shares, execution accuracy (the strategy's own answer in the box) and acc@1 of
    sampled ``responses`` (one list per problem)."""
    from collections import Counter

    counts, executed, correct, total = Counter(), 0, 0, 0
    for digits, rs in zip(problems, responses):
        key = str(task.key_of(digits, weights))
        for r in rs:
            s = task.classify(r)
            counts[s] += 1
            total += 1
            res = task.compute_score(task.DATA_SOURCE, r, key)
            correct += int(res["acc"])
            if s != task.OTHER:
                executed += int(res["answer"] == str(task.answer_of(s)))
    named = total - counts[task.OTHER]
    return {"strategy_share": {s: counts[s] / total for s in (*task.STRATEGY_NAMES, task.OTHER)},
            "execution_accuracy": executed / max(named, 1), "acc@1": correct / total, "responses": total}


def prepare(out: str | Path, cfg: WarmStartConfig | None = None, log=print) -> dict:
    """Build (or reuse) the data and the warm-started policy under ``out``; returns ``assets.json``'s content."""
    import pandas as pd
    from transformers import AutoTokenizer

    from verl_mupo.cpu.assets import build_model, build_tokenizer

    cfg = cfg or WarmStartConfig()
    out = Path(out)
    marker = out / "assets.json"
    if marker.exists():
        done = json.loads(marker.read_text())
        if done.get("config") == cfg.as_dict() and Path(done["model"]).is_dir():
            log(f"reusing {marker}")
            return done
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    train, heldout = task.split_problems(cfg.data_seed, cfg.heldout)
    for name, probs in (("train", train), ("heldout", heldout)):
        pd.DataFrame([task.rl_record(d, i, name, cfg.class_weights) for i, d in enumerate(probs)]).to_parquet(
            out / f"{name}.parquet")

    model_dir = out / "policy"
    rng = random.Random(cfg.model_seed)
    sample = [task.trace(s, rng) for s in task.STRATEGY_NAMES for _ in range(4)]
    built = build_tokenizer(model_dir, words=task.vocabulary(), vocab_size=200,
                            texts=(task.problem_text(train[0]), *sample))
    model = build_model(model_dir, vocab_size=len(built), seed=cfg.model_seed, hidden_size=cfg.hidden_size,
                        layers=cfg.layers)
    # the tokenizer verl will load: with the Qwen2 config beside it, AutoTokenizer gives Qwen2Tokenizer, whose
    # pre-tokenizer splits digits apart (" 7" -> " ", "7"); the SFT must see the prompts exactly as the rollout does
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    params = sum(p.numel() for p in model.parameters())
    log(f"policy: Qwen2 hidden {cfg.hidden_size}, {cfg.layers} layers, {params} parameters, vocab {len(tokenizer)}")
    losses = train_sft(model, tokenizer, train, cfg, log=log)
    model.save_pretrained(str(model_dir))
    base = describe_policy(heldout[:64], sample_responses(model, tokenizer, heldout[:64], n=8, seed=cfg.model_seed),
                           cfg.class_weights)
    log(f"warm-started policy on 64 held-out problems x 8 samples: {json.dumps(base)}")
    info = {"model": str(model_dir.resolve()), "train": str((out / "train.parquet").resolve()),
            "heldout": str((out / "heldout.parquet").resolve()), "config": cfg.as_dict(), "parameters": params,
            "sft_final_loss": float(sum(losses[-20:]) / min(20, len(losses))), "base_policy": base,
            "seconds": round(time.monotonic() - t0, 1)}
    marker.write_text(json.dumps(info, indent=1))
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = WarmStartConfig()
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data-seed", type=int, default=d.data_seed)
    p.add_argument("--heldout", type=int, default=d.heldout)
    p.add_argument("--class-weights", type=float, nargs=3, default=list(d.class_weights))
    p.add_argument("--model-seed", type=int, default=d.model_seed)
    p.add_argument("--hidden-size", type=int, default=d.hidden_size)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--error-rate", type=float, default=d.error_rate)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    a = p.parse_args(argv)
    cfg = WarmStartConfig(a.data_seed, a.heldout, a.class_weights, a.model_seed, a.hidden_size, a.layers, a.error_rate,
                          a.steps, a.batch_size, a.lr)
    print(json.dumps(prepare(a.out, cfg), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
