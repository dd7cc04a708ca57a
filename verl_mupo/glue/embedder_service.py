"""Embedder actors inside verl's own placement groups (``algorithm.mupo.embedder.placement=service``).

verl's TaskRunner, where advantages are computed, holds no GPU, and its reward workers are CPU
actors. The service puts one sentence-transformers model per GPU bundle of verl's resource pool (or
``num_actors`` of them), each asking Ray for ``gpu_share`` of the bundle's GPU, so it runs on the
training GPUs while vLLM sleeps and FSDP waits for advantages. Each call:

1. sorts the texts by length (``sort_by_length``) and deals them round-robin to the actors, so every
   actor gets a similar token load (sentence-transformers then batches each shard by length again);
2. gathers the L2-normalised float32 rows and restores the caller's order;
3. the actors empty the CUDA cache after every call.

Failures: actors that cannot be placed or loaded within ``start_timeout_s`` stop the run before the
first rollout, naming the setting to change; an actor that dies during a step is restarted once and
its shard retried, a second failure in the same step raises. MUPO never falls back to GRPO.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from verl_mupo.config import EmbedderConfig

logger = logging.getLogger(__name__)

__all__ = ["EmbedderService", "EmbedderActor", "EmbedderPlacementError", "bundles_of_pool"]


class EmbedderPlacementError(RuntimeError):
    """The service's actors could not be placed or loaded; the message names the setting."""


class EmbedderActor:
    """One sentence-transformers model in a Ray actor (device: CUDA when Ray gave it a GPU)."""

    def __init__(self, config: dict):
        import torch

        from verl_mupo.embedding import SentenceTransformerEmbedder

        cfg = EmbedderConfig(**config)
        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.embedder = SentenceTransformerEmbedder(cfg.model, cfg.batch_size, cfg.max_length, device, cfg.dtype)
        self.device = device

    def encode(self, texts: list[str]) -> np.ndarray:
        out = self.embedder.encode(texts)
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        return out

    def info(self) -> dict:
        import os

        return {"device": self.device, "dtype": self.embedder.dtype, "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id(), "gpu_ids": ray.get_gpu_ids(),
                "dimension": self.embedder.dimension}


def bundles_of_pool(resource_pool) -> list[tuple]:
    """``(placement_group, bundle_index)`` for every bundle of a verl ``RayResourcePool``."""
    pgs = resource_pool.get_placement_groups() if getattr(resource_pool, "pgs", None) is None else resource_pool.pgs
    return [(pg, i) for pg in pgs for i in range(pg.bundle_count)]


class EmbedderService:
    """Sharded embedding over actors placed in given placement-group bundles.

    Args:
        config: the embedder settings (model, batch size, max length, dtype, gpu_share, ...).
        bundles: ``(placement_group, bundle_index)`` pairs, e.g. :func:`bundles_of_pool` of verl's
            global pool; the first ``num_actors`` (all by default) get an actor.
    """

    def __init__(self, config: EmbedderConfig, bundles: Sequence[tuple]):
        if not bundles:
            raise EmbedderPlacementError("no placement-group bundles to put embedder actors in")
        n = len(bundles) if config.num_actors is None else int(config.num_actors)
        if n > len(bundles):
            raise EmbedderPlacementError(
                f"algorithm.mupo.embedder.num_actors={n} but verl's pool has {len(bundles)} GPU bundles; lower it")
        self.config = config
        self.bundles = list(bundles[:n])
        self.actors: list = [None] * n
        self.restarts = 0
        self._cls = ray.remote(EmbedderActor)
        t0 = time.perf_counter()
        for i in range(n):
            self.actors[i] = self._spawn(i)
        try:
            self.infos = ray.get([a.info.remote() for a in self.actors], timeout=float(config.start_timeout_s))
        except GetTimeoutError as e:
            self.shutdown()
            raise EmbedderPlacementError(
                f"the MUPO embedder service could not place {n} actor(s) with num_gpus={config.gpu_share} each "
                f"inside verl's placement groups within {config.start_timeout_s:.0f} s. Lower "
                "algorithm.mupo.embedder.gpu_share (verl's FSDP workers hold 1/3 of each GPU bundle, a colocated "
                "reward model another 1/3), lower algorithm.mupo.embedder.num_actors, or use "
                "algorithm.mupo.embedder.placement=in_process."
            ) from e
        except RayActorError as e:
            self.shutdown()
            raise EmbedderPlacementError(
                f"the MUPO embedder actors failed to start: {e}. Check algorithm.mupo.embedder.model "
                "(a local path or a model the nodes can download), algorithm.mupo.embedder.device (null: the "
                "actor's GPU) and algorithm.mupo.embedder.dtype."
            ) from e
        self.start_seconds = time.perf_counter() - t0

    def _spawn(self, i: int):
        pg, bundle = self.bundles[i]
        cfg = self.config
        payload = dict(model=cfg.model, batch_size=cfg.batch_size, max_length=cfg.max_length, device=cfg.device,
                       dtype=cfg.dtype)
        return self._cls.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=bundle),
            num_gpus=float(cfg.gpu_share), num_cpus=0, max_restarts=0,
        ).remote(payload)

    @property
    def num_actors(self) -> int:
        return len(self.actors)

    def shard(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Row numbers of ``texts`` for each actor: longest first, dealt round-robin."""
        order = np.arange(len(texts))
        if self.config.sort_by_length:
            order = np.argsort([-len(t) for t in texts], kind="stable")
        return [order[j :: self.num_actors] for j in range(self.num_actors)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, d)`` float32 unit rows in the order of ``texts`` (a list of strings; a bare string
        raises TypeError)."""
        from verl_mupo.embedding import check_texts

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, int(self.infos[0]["dimension"])), dtype=np.float32)
        shards = self.shard(texts)
        futures = {j: self.actors[j].encode.remote([texts[i] for i in rows]) for j, rows in enumerate(shards) if len(rows)}
        results: dict[int, np.ndarray] = {}
        restarted: set[int] = set()
        while futures:
            j, fut = futures.popitem()
            try:
                results[j] = ray.get(fut)
            except RayActorError as e:
                if j in restarted:
                    raise RuntimeError(
                        f"MUPO embedder actor {j} died twice in one step ({e}); stopping rather than training "
                        "without MUPO's groups. See the actor's log; algorithm.mupo.embedder.batch_size or "
                        "max_length may be too large for its GPU share."
                    ) from e
                logger.warning("verl_mupo: embedder actor %d died (%s); restarting it once", j, e)
                restarted.add(j)
                self.restarts += 1
                self.actors[j] = self._spawn(j)
                futures[j] = self.actors[j].encode.remote([texts[i] for i in shards[j]])
        dim = next(iter(results.values())).shape[1]
        out = np.empty((len(texts), dim), dtype=np.float32)
        for j, rows in enumerate(shards):
            if len(rows):
                out[rows] = results[j]
        return out

    def shutdown(self) -> None:
        for a in self.actors:
            if a is not None:
                try:
                    ray.kill(a)
                except Exception:  # noqa: BLE001
                    pass
