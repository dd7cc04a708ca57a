"""verl's run config, read for MUPO: which runs MUPO acts in (:func:`mupo_mode`), whether the trainer
has accelerators (:func:`trainer_has_gpus`), where the embedder runs (:func:`resolve_placement`) and
the run's settings (:func:`run_settings`). The one module that reads verl's trainer schema
(``algorithm.adv_estimator``, ``trainer.device``, ``trainer.n_gpus_per_node``, ``trainer.nnodes``);
:mod:`verl_mupo.config` reads only ``algorithm.mupo``. The start-up checks
(:mod:`verl_mupo.glue.config_checks`), the trainer hooks (through
:mod:`verl_mupo.glue.trainer_state`) and ``python -m verl_mupo.dry_run`` all decide with these
functions, so the driver and the TaskRunner decide the same way. No verl import: the config may be
a dict or an OmegaConf node.
"""

from __future__ import annotations

import dataclasses

from verl_mupo.config import ConfigError, MupoConfig, device_type

__all__ = ["mupo_mode", "trainer_has_gpus", "resolve_placement", "run_settings"]


def _get(node, key: str, default=None):
    """``node[key]`` for dicts and OmegaConf nodes alike (``default`` when absent or ``None``)."""
    if node is None:
        return default
    value = node.get(key, default) if hasattr(node, "get") else getattr(node, key, default)
    return default if value is None else value


def mupo_mode(algorithm_config) -> str | None:
    """What the trainer hook does for verl's ``algorithm`` config: ``"mupo"``
    (``adv_estimator=mupo``), ``"monitor"`` (another estimator with ``algorithm.mupo.monitor_only``:
    the ``mupo/*`` metrics only, advantages untouched) or ``None`` (hook off)."""
    if algorithm_config is None:
        return None
    if str(_get(algorithm_config, "adv_estimator", "")) == "mupo":
        return "mupo"
    mupo = _get(algorithm_config, "mupo")
    if mupo is not None and bool(_get(mupo, "monitor_only", False)):
        return "monitor"
    return None


def trainer_has_gpus(config) -> bool:
    """Whether verl's ``trainer`` section trains on accelerators: ``trainer.device`` is not ``cpu``
    and ``trainer.n_gpus_per_node * trainer.nnodes >= 1``. verl's defaults (``cuda``, 8 GPUs, 1 node)
    count as GPUs; the CPU smoke backend sets ``trainer.device=cpu``."""
    trainer = _get(config, "trainer", {})
    device = str(_get(trainer, "device", "cuda")).lower()
    gpus = int(_get(trainer, "n_gpus_per_node", 0)) * int(_get(trainer, "nnodes", 1))
    return device != "cpu" and gpus >= 1


def resolve_placement(cfg: MupoConfig, config) -> MupoConfig:
    """``cfg`` with ``embedder.placement`` (and, for ``in_process``, ``embedder.device``) decided for
    a run of verl config ``config``.

    - ``auto``: ``service`` (embedder actors on the training GPUs) when :func:`trainer_has_gpus`,
      else ``in_process``;
    - ``in_process`` embeds in verl's TaskRunner, a Ray actor that reserves no GPU. Whether it sees
      a GPU depends on Ray (Ray 2.60 leaves ``CUDA_VISIBLE_DEVICES`` alone for zero-GPU actors unless
      ``RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1``, older Ray empties it) and on the node it lands on;
      where it does, the model would sit on a training GPU without Ray knowing. So it embeds on the
      TaskRunner's CPU: ``device: null`` becomes ``cpu``, and an accelerator ``device`` (``cuda``,
      ``cuda:1``, ``mps``...) is refused with a :class:`ConfigError` naming
      ``algorithm.mupo.embedder.placement`` and ``algorithm.mupo.embedder.device``;
    - ``service``: every actor asks Ray for a share of one GPU bundle and sees that GPU as
      ``cuda:0``, so ``device=cuda:<n>`` with ``n >= 1`` is refused;
    - embedding on CPU while the trainer has GPUs (``in_process``, or ``device=cpu``) is refused
      (hours per step at the paper's scale) unless ``embedder.allow_cpu=true``.

    A pure function of the config, so the driver's start-up check and the TaskRunner's hook decide
    the same way."""
    emb = cfg.embedder
    gpus = trainer_has_gpus(config)
    trainer = _get(config, "trainer", {})
    placement = emb.placement
    if placement == "auto":
        placement = "service" if gpus else "in_process"
    device = emb.device
    kind = device_type(device)
    if placement == "in_process":
        if kind not in (None, "cpu"):
            raise ConfigError(
                f"algorithm.mupo.embedder.placement={placement} with algorithm.mupo.embedder.device={device}: an "
                "in-process embedder runs in verl's TaskRunner, a Ray actor that reserves no GPU, so it cannot use "
                f"{device} reliably (the device may be hidden from it, or shared with the training workers behind "
                "Ray's back). To embed on the training GPUs use algorithm.mupo.embedder.placement=service (auto does "
                "this when the trainer has GPUs) with algorithm.mupo.embedder.device=null; to embed in-process set "
                "algorithm.mupo.embedder.device=cpu (or null)."
                + (" (placement=auto resolves to in_process because the trainer has no GPUs: trainer.device="
                   f"{_get(trainer, 'device', 'cuda')}, trainer.n_gpus_per_node={_get(trainer, 'n_gpus_per_node', '?')}.)"
                   if emb.placement == "auto" else "")
            )
        device = "cpu"
    if placement == "service" and kind is not None and kind != "cpu" and device not in (kind, f"{kind}:0"):
        raise ConfigError(
            f"algorithm.mupo.embedder.device={device} with algorithm.mupo.embedder.placement=service: each embedder "
            f"actor sees the one GPU of its placement-group bundle as {kind}:0. Set algorithm.mupo.embedder.device="
            "null (or cuda)."
        )
    if gpus and device_type(device) == "cpu" and not emb.allow_cpu:
        where = ("algorithm.mupo.embedder.placement=in_process embeds in verl's TaskRunner, which holds no GPU"
                 if placement == "in_process" else "algorithm.mupo.embedder.device=cpu embeds on CPU")
        raise ConfigError(
            f"{where}, while the trainer trains on {_get(trainer, 'n_gpus_per_node', '?')} x "
            f"{_get(trainer, 'nnodes', 1)} {_get(trainer, 'device', 'cuda')} device(s): the embedder would run on "
            "CPU (hours per step at the paper's scale). Use algorithm.mupo.embedder.placement=service (or auto, the "
            "default) with algorithm.mupo.embedder.device=null, or set algorithm.mupo.embedder.allow_cpu=true to "
            "embed on CPU anyway."
        )
    if placement == emb.placement and device == emb.device:
        return cfg
    return dataclasses.replace(cfg, embedder=dataclasses.replace(emb, placement=placement, device=device))


def run_settings(config) -> MupoConfig | None:
    """The MUPO settings of a run of verl config ``config`` (the whole config: ``algorithm``,
    ``trainer``...), with the placement resolved; ``None`` when :func:`mupo_mode` is off.

    Raises:
        ConfigError: a bad or unknown key, ``monitor_only`` with ``adv_estimator=mupo``,
            ``online_filtering`` in a monitor-only run, an in-process embedder on CPU while GPUs
            train or on an accelerator at all, a service device other than the actor's GPU (see
            :func:`resolve_placement`). An ``algorithm.mupo`` block that MUPO would ignore is the
            start-up check's to refuse (``verl_mupo.glue.config_checks.check_estimator``); here it
            gives ``None`` like plain GRPO.
    """
    algo = _get(config, "algorithm")
    mode = mupo_mode(algo)
    raw = _get(algo, "mupo")
    if mode is None:
        if raw is not None:
            MupoConfig.from_mapping(raw)  # still reject unknown keys and bad values
        return None
    cfg = MupoConfig.from_mapping(raw)
    if mode == "mupo" and cfg.monitor_only:
        raise ConfigError(
            "algorithm.mupo.monitor_only=true with algorithm.adv_estimator=mupo: monitor-only runs keep another "
            "estimator's advantages. Use algorithm.adv_estimator=grpo for the monitored GRPO baseline "
            "(+mupo@algorithm.mupo=grpo_monitor), or +mupo@algorithm.mupo=paper for MUPO."
        )
    if mode == "monitor" and cfg.online_filtering:
        raise ConfigError(
            "algorithm.mupo.online_filtering=true with monitor_only: a monitored run keeps the other estimator's "
            "advantages, so MUPO's filter would not act. Set algorithm.mupo.online_filtering=false (verl's own "
            "algorithm.filter_groups filters GRPO batches), or run algorithm.adv_estimator=mupo."
        )
    return resolve_placement(cfg, config)
