"""The narrow hook around verl's v1 ``PPOTrainer._compute_advantage``.

Active only when ``algorithm.adv_estimator == "mupo"`` (or ``algorithm.mupo.monitor_only`` is set
with another estimator). Before verl's own method runs it:

1. fetches each row's response tokens, ``uid`` and ``reward_extra_info`` (``acc``) from the
   TransferQueue, and the padding tags from the batch;
2. decodes and embeds the responses, runs the group stage (:func:`verl_mupo.run_group_stage`) with
   lambda from ``global_steps`` / ``total_training_steps``;
3. hands the labels and the diversity term to the ``mupo`` estimator through a context variable and
   calls verl's original ``_compute_advantage`` unchanged;
4. adds the ``mupo/*`` metrics to the step's metrics.

It also wraps ``fit`` to load the embedder before the first rollout, so a missing model stops the
run at once. Installed by :mod:`verl_mupo.verl_plugin` when verl's v1 trainer module is imported.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import time

import numpy as np

from verl_mupo.config import MupoConfig
from verl_mupo.diversity import diversity_weight
from verl_mupo.embedding import get_embedder
from verl_mupo.glue.patching import is_patched, wrap_once
from verl_mupo.glue.side_info import MupoSideInfo, side_info_scope
from verl_mupo.group_stage import run_group_stage
from verl_mupo.text import texts_to_embed

logger = logging.getLogger(__name__)



def mupo_mode(algorithm_config) -> str | None:
    """``"mupo"``, ``"monitor"`` (another estimator, MUPO metrics only) or ``None`` (hook off)."""
    if algorithm_config is None:
        return None
    if str(algorithm_config.get("adv_estimator")) == "mupo":
        return "mupo"
    mupo = algorithm_config.get("mupo")
    if mupo is not None and bool(mupo.get("monitor_only", False)):
        return "monitor"
    return None


def lambda_for_step(cfg: MupoConfig, global_steps: int, total_training_steps: int) -> float:
    """lambda for verl's 1-based ``global_steps``: ``lambda_max`` at step 1, ``lambda_min`` at the last."""
    return diversity_weight(
        step=max(int(global_steps) - 1, 0), total_steps=max(int(total_training_steps) - 1, 0),
        lambda_max=cfg.lambda_max, lambda_min=cfg.lambda_min, schedule=cfg.lambda_schedule,
        decay_rate=cfg.lambda_decay_rate,
    )


def _reward_extra(extra_fields_row) -> dict:
    if extra_fields_row is None:
        return {}
    info = extra_fields_row.get("reward_extra_info") if hasattr(extra_fields_row, "get") else None
    return dict(info) if info else {}


def _padded(t, padding):
    """A (B, T) dense tensor from a TransferQueue field (nested when lengths differ, dense when equal)."""
    return t.to_padded_tensor(padding=padding) if getattr(t, "is_nested", False) else t


def fetch_rows(trainer, batch):
    """Pull what MUPO needs for ``batch`` (a ``KVBatchMeta``) from the TransferQueue.

    Returns ``(uids (B,) object, texts list[str], acc (B,) float, valid (B,) bool)``."""
    import torch
    from verl.utils.transferqueue_utils import tq

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                           select_fields=["uid", "responses", "response_mask", "extra_fields"])
    uids = np.array(list(data["uid"]), dtype=object)
    responses = _padded(data["responses"], 0)
    mask = _padded(data["response_mask"], 0)
    lengths = mask.sum(-1).tolist() if mask.ndim == 2 else [int(mask.sum())]
    extra = list(data["extra_fields"])
    tags = list(batch.tags) if getattr(batch, "tags", None) else [{} for _ in batch.keys]
    valid = np.array([not (t or {}).get("is_padding", False) for t in tags], dtype=bool)
    ids = [responses[i, : int(n)].tolist() for i, n in enumerate(lengths)]
    texts = trainer.tokenizer.batch_decode(ids, skip_special_tokens=True)
    acc = np.zeros(len(uids))
    for i, row in enumerate(extra):
        if not valid[i]:
            continue
        info = _reward_extra(row)
        if "acc" not in info:
            raise RuntimeError(
                "MUPO needs a binary 'acc' in each response's reward_extra_info, found keys "
                f"{sorted(info)}. Use reward.reward_manager.name=mupo (it adds acc and format), or make "
                "reward.custom_reward_function return a dict with 'acc' in {0, 1}."
            )
        acc[i] = float(info["acc"].item() if isinstance(info["acc"], torch.Tensor) else info["acc"])
    return uids, texts, acc, valid


def embedder_for(trainer, cfg: MupoConfig):
    """The embedder of this run: the process-wide in-process model, or the trainer's embedder
    service (started on first use inside verl's global resource pool)."""
    if cfg.embedder.placement == "in_process":
        return get_embedder(cfg.embedder)
    service = getattr(trainer, "_mupo_embedder_service", None)
    if service is None:
        from verl_mupo.glue.embedder_service import EmbedderService, bundles_of_pool

        pools = trainer.resource_pool_manager.resource_pool_dict
        pool = pools.get("global_pool") or next(iter(pools.values()))
        service = EmbedderService(cfg.embedder, bundles_of_pool(pool))
        trainer._mupo_embedder_service = service
        logger.warning("verl_mupo: embedder service up, %d actor(s) in %.1f s: %s", service.num_actors,
                       service.start_seconds, service.infos)
    return service


def mupo_group_info(trainer, batch, cfg: MupoConfig, metrics: dict) -> MupoSideInfo:
    """Embed, cluster and score one training batch; add ``mupo/*`` metrics."""
    uids, texts, acc, valid = fetch_rows(trainer, batch)
    embedder = embedder_for(trainer, cfg)
    t0 = time.perf_counter()
    emb_valid = embedder.encode(texts_to_embed([t for t, v in zip(texts, valid) if v], cfg.embed_text))
    embeddings = np.zeros((len(texts), emb_valid.shape[1]), dtype=np.float32)
    embeddings[valid] = emb_valid
    embed_s = time.perf_counter() - t0
    lam = lambda_for_step(cfg, trainer.global_steps, trainer.total_training_steps)
    result = run_group_stage(embeddings, uids, acc, cfg, lam, valid=valid, embed_seconds=embed_s)
    metrics.update(result.metrics)
    metrics["mupo/global_step"] = float(trainer.global_steps)
    if cfg.embedder.placement == "service":
        metrics["mupo/embedder_actors"] = float(embedder.num_actors)
        metrics["mupo/embedder_restarts"] = float(embedder.restarts)
    return MupoSideInfo(uids=uids, labels=result.labels, score_delta=result.score_delta, config=cfg)


DUMP_ENV = "VERL_MUPO_DUMP_ADVANTAGES"


def dump_advantages(trainer, batch, info: MupoSideInfo | None, directory: str) -> str:
    """Write the step's advantages (and MUPO's labels) to ``<directory>/step_<N>.npz`` for
    inspection; enabled by the ``VERL_MUPO_DUMP_ADVANTAGES=<dir>`` environment variable."""
    from verl.utils.transferqueue_utils import tq

    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                           select_fields=["uid", "prompts", "responses", "response_mask", "advantages", "rm_scores"])
    mask = _padded(data["response_mask"], 0)
    adv = _padded(data["advantages"], 0.0)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"step_{int(trainer.global_steps)}.npz")
    np.savez(
        path,
        keys=np.array(batch.keys, dtype=object),
        uids=np.array(list(data["uid"]), dtype=object),
        prompts=np.array([p.tolist() for p in data["prompts"].unbind(0)], dtype=object),
        responses=np.array([r.tolist() for r in data["responses"].unbind(0)], dtype=object),
        advantages=(adv * mask).sum(-1).numpy() / np.maximum(mask.sum(-1).numpy(), 1),
        scores=_padded(data["rm_scores"], 0.0).sum(-1).numpy(),
        labels=info.labels if info is not None else np.zeros(0),
        score_delta=info.score_delta if info is not None else np.zeros(0),
    )
    return path


def _wrap_compute_advantage(original):
    @functools.wraps(original)
    def _compute_advantage(self, batch, metrics):
        mode = mupo_mode(self.config.algorithm)
        info = None
        if mode is None:
            out = original(self, batch, metrics)
        else:
            cfg = MupoConfig.from_mapping(self.config.algorithm.get("mupo"))
            info = mupo_group_info(self, batch, cfg, metrics)
            if mode == "monitor":
                out = original(self, batch, metrics)
            else:
                with side_info_scope(info):
                    out = original(self, batch, metrics)
        if os.environ.get(DUMP_ENV):
            dump_advantages(self, out, info, os.environ[DUMP_ENV])
        return out

    return _compute_advantage


def _wrap_fit(original):
    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        if mupo_mode(self.config.algorithm) is not None:
            cfg = MupoConfig.from_mapping(self.config.algorithm.get("mupo"))
            t0 = time.perf_counter()
            embedder_for(self, cfg)  # raises EmbedderLoadError / EmbedderPlacementError naming the setting
            logger.warning("verl_mupo: embedder %s (%s) ready in %.1f s", cfg.embedder.model,
                           cfg.embedder.placement, time.perf_counter() - t0)
        return original(self, *args, **kwargs)

    return fit


def patch_trainer(module) -> None:
    """Wrap ``PPOTrainer._compute_advantage`` and ``PPOTrainer.fit`` in ``module`` (idempotent)."""
    cls = module.PPOTrainer
    current = cls.__dict__.get("_compute_advantage")
    if current is None or is_patched(current):
        return
    params = list(inspect.signature(current).parameters)
    if params != ["self", "batch", "metrics"]:
        raise RuntimeError(
            f"verl_mupo cannot hook this verl: PPOTrainer._compute_advantage{tuple(params)} is not "
            "(self, batch, metrics). verl_mupo supports verl>=0.9.1,<0.10."
        )
    wrap_once(cls, "_compute_advantage", _wrap_compute_advantage)
    wrap_once(cls, "fit", _wrap_fit)
