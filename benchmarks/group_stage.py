"""MUPO's group stage against verl's own ``grpo`` estimator, and our constrained clustering against
k-means-constrained (the authors' choice, n_init=10), on one batch of the paper's size.

    python benchmarks/group_stage.py [--prompts 512] [--n 15] [--dim 1024] [--length 2048] [--repeats 5]

Batch: P prompts x n responses, unit embeddings with a few latent "strategies" per prompt, binary
accuracy, rewards at the last token of (B, length) token-level tensors. Times are medians over the
repeats, in one process, on whatever machine runs it. Targets (docs/performance.md): group stage
<= 2x verl's grpo; clustering >= 20x faster than k-means-constrained at equal or lower inertia.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch


def make_batch(prompts: int, n: int, dim: int, length: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    strategies = rng.standard_normal((prompts, 4, dim)).astype(np.float32)
    which = rng.integers(0, 4, (prompts, n))
    emb = strategies[np.arange(prompts)[:, None], which].reshape(prompts * n, dim) * 0.6
    emb += rng.standard_normal(emb.shape).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    index = np.repeat(np.array([f"uid-{i:05d}" for i in range(prompts)], dtype=object), n)
    acc = rng.integers(0, 2, prompts * n).astype(np.float64)
    lengths = rng.integers(length // 4, length + 1, prompts * n)
    mask = (torch.arange(length)[None, :] < torch.from_numpy(lengths)[:, None]).float()
    tlr = torch.zeros(prompts * n, length)
    tlr[torch.arange(prompts * n), torch.from_numpy(lengths - 1)] = torch.from_numpy(0.9 * acc + 0.1).float()
    return emb, index, acc, tlr, mask


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=512)
    p.add_argument("--n", type=int, default=15)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--length", type=int, default=2048)
    p.add_argument("--groups", type=int, default=3)
    p.add_argument("--min-group-size", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--kmc-repeats", type=int, default=1)
    p.add_argument("--skip-kmc", action="store_true")
    p.add_argument("--decode-tokens", type=int, default=700,
                   help="also time decoding P*n responses of this many tokens (the hook decodes every response); 0 skips")
    args = p.parse_args(argv)

    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    from verl_mupo import MupoConfig, compute_mupo_advantages, constrained_partition, partition_inertia, run_group_stage
    from verl_mupo._arrays import group_rows

    emb, index, acc, tlr, mask = make_batch(args.prompts, args.n, args.dim, args.length)
    cfg = MupoConfig(num_groups=args.groups, min_group_size=args.min_group_size)

    def grpo():
        return compute_grpo_outcome_advantage(tlr, mask, index, norm_adv_by_std_in_grpo=True)[0]

    def mupo_stage():
        res = run_group_stage(emb, index, acc, cfg, lam=0.4)
        scores = tlr.sum(-1) + torch.from_numpy(res.score_delta)
        adv = compute_mupo_advantages(scores, index, res.labels, beta=cfg.beta)
        return adv.unsqueeze(-1) * mask, res

    grpo()
    mupo_stage()  # warm-up
    t_grpo, _ = timed(grpo, args.repeats)
    t_mupo, (adv, res) = timed(mupo_stage, args.repeats)
    assert torch.isfinite(adv).all()
    t_part, labels = timed(lambda: constrained_partition(emb, index, args.groups, args.min_group_size), args.repeats)
    inertia_ours = partition_inertia(emb, index, labels)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"batch: {args.prompts} prompts x {args.n} responses, dim {args.dim}, length {args.length}, "
          f"K={args.groups}, G_min={args.min_group_size}, median of {args.repeats}\n")
    rows = [
        ("verl grpo estimator (compute_grpo_outcome_advantage)", t_grpo, ""),
        ("MUPO group stage (partition+weights+diversity+advantages)", t_mupo, f"{t_mupo / t_grpo:.2f}x grpo (target <= 2x)"),
        ("  of which constrained partition", t_part, ""),
    ]
    if not args.skip_kmc:
        from k_means_constrained import KMeansConstrained

        groups = group_rows(index, len(emb))

        def kmc():
            lab = np.empty(len(emb), dtype=np.int64)
            for r in groups:
                lab[r] = KMeansConstrained(n_clusters=args.groups, size_min=args.min_group_size, n_init=10,
                                           random_state=0).fit_predict(emb[r])
            return lab

        t_kmc, kmc_labels = timed(kmc, args.kmc_repeats)
        inertia_kmc = partition_inertia(emb, index, kmc_labels)
        rows.append(("k-means-constrained, n_init=10 (authors)", t_kmc, f"ours {t_kmc / t_part:.1f}x faster (target >= 20x)"))
        rows.append(("mean inertia per prompt: ours / k-means-constrained", None,
                     f"{inertia_ours / args.prompts:.5f} / {inertia_kmc / args.prompts:.5f} "
                     f"({'<=' if inertia_ours <= inertia_kmc + 1e-9 else '>'})"))
    if args.decode_tokens:
        import tempfile

        from transformers import AutoTokenizer

        from verl_mupo.cpu.assets import build_tokenizer

        with tempfile.TemporaryDirectory() as tmp:
            build_tokenizer(tmp)
            tok = AutoTokenizer.from_pretrained(tmp)
        ids = np.random.default_rng(0).integers(3, len(tok), (len(emb), args.decode_tokens)).tolist()
        t_dec, _ = timed(lambda: tok.batch_decode(ids, skip_special_tokens=True), 1)
        rows.append((f"decode {len(emb)} responses x {args.decode_tokens} tokens (byte-level BPE)", t_dec, ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'what'.ljust(width)}  {'seconds':>9}  note")
    for name, sec, note in rows:
        print(f"{name.ljust(width)}  {('-' if sec is None else f'{sec:9.4f}'):>9}  {note}")
    sizes = res.metrics
    print(f"\ngroup sizes min/mean/max: {sizes['mupo/group_size_min']:.0f}/{sizes['mupo/group_size_mean']:.2f}/"
          f"{sizes['mupo/group_size_max']:.0f}; effective groups: {sizes['mupo/num_groups_mean']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
