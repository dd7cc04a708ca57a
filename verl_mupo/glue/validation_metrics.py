"""``val-mupo/*`` metrics in every verl validation: acc@k (unbiased) per benchmark and for the
paper's math / general averages, and the mean pairwise embedding distance of the validation
responses (the paper's diversity curve is measured on validation).

The hook wraps three methods of verl 0.9.1's v1 ``PPOTrainer`` and of its legacy
``RayPPOTrainer`` (``trainer.use_v1=false``) that ``_validate`` calls in this order, each with data
the next one lacks:

1. ``_maybe_log_val_generations(inputs, outputs, scores)``: the final output of every validation
   session, in the order of the samples below (kept for step 3);
2. ``_dump_generations(..., reward_extra_infos_dict, dump_path)`` (only with
   ``trainer.validation_data_dir``): the dump's sample keys ``<prompt uid>_<session>_<i>`` (kept, so
   that the saved embeddings name the dump rows they belong to; the legacy trainer's dump has none);
3. ``_val_metrics_update(data_sources, sample_uids, reward_extra_infos_dict, sample_turns[,
   expected_acc_counts])`` (the legacy trainer's has no ``expected_acc_counts``): verl's own
   metrics, to which this hook adds

   - ``val-mupo/<data_source>/acc@k`` for k = 1 .. ``val_kwargs.n`` (``acc@1_greedy`` alone when
     ``val_kwargs.temperature=0``), and ``val-mupo/{math,general}_avg/acc@k``
     (:func:`verl_mupo.evaluation.evaluate`);
   - ``val-mupo/<data_source>/pairwise_distance`` and ``val-mupo/pairwise_distance`` (mean over
     prompts of the mean ``1 - cos`` between a prompt's responses), embedded by the run's embedder
     with MUPO's text rule (``algorithm.mupo.embed_text``).

``_validate`` returns that dict and verl logs it through ``trainer.logger`` (console, file, wandb,
tensorboard...), so the metrics reach every backend. With ``trainer.validation_data_dir`` set, each
validation also writes ``<step>.embeddings.npz`` (the embeddings, float16, per sample prompt uid,
dump key, data_source, acc) and ``<step>.val-mupo.json`` (sampling settings and these metrics)
beside verl's ``<step>.jsonl`` (:mod:`verl_mupo.evaluation` owns the layout).

Which runs get what: only runs that ask for verl-mupo (:func:`verl_mupo.glue.scope.requested`:
``adv_estimator=mupo`` or an ``algorithm.mupo`` block, e.g. ``+mupo@algorithm.mupo=grpo_monitor``
for GRPO) get anything; in other runs the three methods are verl's own. Those runs get acc@k when
the reward's extra info has a binary ``acc`` (the ``mupo`` reward manager, or a scorer returning
``acc``; a warning otherwise), and the pairwise distance and embeddings when MUPO is on for the run
(``adv_estimator=mupo`` or ``algorithm.mupo.monitor_only``): they have an embedder.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections import defaultdict

import numpy as np

from verl_mupo import metric_names as M
from verl_mupo.diversity import mean_pairwise_distance
from verl_mupo.evaluation import (EvaluationError, Sampling, correct_counts, evaluate, metrics_of, split_uid,
                                  write_embeddings, write_record)
from verl_mupo.glue.patching import is_patched, wrap_once
from verl_mupo.glue.scope import requested
from verl_mupo.glue.trainer_state import embedder_for, mode_of, settings_of
from verl_mupo.glue.versions import SUPPORTED
from verl_mupo.text import texts_to_embed

logger = logging.getLogger(__name__)

__all__ = ["patch_trainer", "patch_legacy_trainer", "patch_class", "validation_metrics", "PREFIX"]

PREFIX = M.VAL_PREFIX
_CAPTURE_ATTR = "_mupo_val_capture"
_WARNED_ATTR = "_mupo_val_warned"

_VAL_METRICS_PARAMS = ["self", "data_sources", "sample_uids", "reward_extra_infos_dict", "sample_turns"]
#: the parameters each wrapped method has in verl 0.9.1; ``_val_metrics_update`` of the v1 trainer
#: also takes ``expected_acc_counts``, the legacy trainer's does not
_SIGNATURES = {
    "_maybe_log_val_generations": [["self", "inputs", "outputs", "scores"]],
    "_dump_generations": [["self", "inputs", "outputs", "gts", "scores", "reward_extra_infos_dict", "dump_path"]],
    "_val_metrics_update": [_VAL_METRICS_PARAMS + ["expected_acc_counts"], _VAL_METRICS_PARAMS],
}


def _warn_once(trainer, msg: str) -> None:
    warned = getattr(trainer, _WARNED_ATTR, set())
    if msg not in warned:
        logger.warning(msg)
        warned.add(msg)
        setattr(trainer, _WARNED_ATTR, warned)


def _sampling(trainer) -> Sampling:
    val_kwargs = trainer.config.actor_rollout_ref.rollout.val_kwargs
    sampling = Sampling.from_val_kwargs(val_kwargs)
    if not sampling.do_sample and not sampling.greedy:
        _warn_once(trainer, "verl_mupo: actor_rollout_ref.rollout.val_kwargs.do_sample=False does not make verl 0.9.1's "
                            f"v1 validation greedy (it samples at val_kwargs.temperature={sampling.temperature}); set "
                            "val_kwargs.temperature=0 for greedy acc@1. Logging val-mupo/* as sampled.")
    return sampling


def _match_keys(prompts, outputs, dump_keys, dump_outputs) -> list[str]:
    """The dump key of each sample: the unused key of the same prompt with the same output text
    (samples with equal text are interchangeable); ``""`` where none is found."""
    pool: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, out in zip(dump_keys, dump_outputs):
        pool[(split_uid(key)[0], out)].append(key)
    keys = []
    for prompt, out in zip(prompts, outputs):
        found = pool.get((str(prompt), out))
        keys.append(found.pop() if found else "")
    return keys


def validation_metrics(trainer, data_sources, sample_uids, reward_extra_infos_dict, expected_acc_counts=None,
                       outputs=None, dump_keys=None, dump_outputs=None) -> dict[str, float]:
    """The ``val-mupo/*`` metrics of one validation (see the module docstring); writes the
    embeddings and the record when ``trainer.validation_data_dir`` is set.

    Args:
        trainer: verl's ``PPOTrainer`` (``config``, ``global_steps``; the embedder when MUPO is set).
        data_sources, sample_uids: per sample (a session's final output), as ``_validate`` collects them.
        reward_extra_infos_dict: ``{"acc": [...], ...}`` per sample.
        expected_acc_counts: ``(data_source, uid) -> n``; missing samples count as incorrect.
        outputs: the samples' decoded responses (``None``: no pairwise distance).
        dump_keys, dump_outputs: the dump's rows, to name each sample's dump key in the embeddings file.
    """
    if not requested(trainer.config):
        return {}
    cfg = settings_of(trainer)
    accs = reward_extra_infos_dict.get("acc")
    if accs is None or len(accs) != len(sample_uids):
        if cfg is not None:
            _warn_once(trainer, "verl_mupo: validation rows carry no 'acc' in the reward's extra info, so no val-mupo/* "
                                "acc@k is logged; use reward.reward_manager.name=mupo (or a scorer returning acc in {0, 1})")
        return {}
    try:
        counts = correct_counts(list(map(str, data_sources)), list(map(str, sample_uids)), list(accs),
                                expected=expected_acc_counts)
    except EvaluationError as e:
        _warn_once(trainer, f"verl_mupo: no val-mupo/* acc@k this run: {e}")
        return {}
    sampling = _sampling(trainer)
    results = evaluate(counts, ks=None)
    metrics = metrics_of(results, sampling, PREFIX)
    step = int(trainer.global_steps)
    val_dir = trainer.config.trainer.get("validation_data_dir", None)

    if cfg is not None and outputs is not None and len(outputs) == len(sample_uids) and len(outputs):
        t0 = time.perf_counter()
        emb = np.asarray(embedder_for(trainer, cfg).encode(texts_to_embed(list(outputs), cfg.embed_text)),
                         dtype=np.float32)
        metrics[M.VAL_TIME_EMBED_S] = time.perf_counter() - t0
        sources = np.array([str(s) for s in data_sources])
        prompts = np.array([str(u) for u in sample_uids])
        per_bench = []
        for bench in sorted(set(sources.tolist())):
            rows = sources == bench
            dist = mean_pairwise_distance(emb[rows], prompts[rows])
            if np.isfinite(dist).any():
                metrics[M.val_pairwise_distance(bench)] = float(np.nanmean(dist))
                per_bench.append(dist)
        if per_bench:
            allp = np.concatenate(per_bench)
            metrics[M.val_pairwise_distance()] = float(np.nanmean(allp))
        if val_dir:
            keys = (_match_keys(prompts.tolist(), list(outputs), dump_keys, dump_outputs)
                    if dump_keys is not None and dump_outputs is not None else None)
            acc_values = [float(a) if a is not None else float("nan") for a in accs]
            write_embeddings(val_dir, step, emb, prompts.tolist(), sources.tolist(), acc_values, keys)
    elif cfg is None and outputs is not None:
        logger.debug("verl_mupo: no algorithm.mupo settings, so no validation embeddings (acc@k only)")

    if val_dir:
        write_record(val_dir, step, sampling, metrics, mode=mode_of(trainer),
                     embed_text=cfg.embed_text if cfg is not None else None,
                     embedder=cfg.embedder.model if cfg is not None else None)
    return metrics


def _wrap_log_generations(original):
    @functools.wraps(original)
    def _maybe_log_val_generations(self, inputs, outputs, scores):
        setattr(self, _CAPTURE_ATTR, {"outputs": list(outputs)})
        return original(self, inputs, outputs, scores)

    return _maybe_log_val_generations


def _wrap_dump(original):
    @functools.wraps(original)
    def _dump_generations(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path):
        capture = getattr(self, _CAPTURE_ATTR, None)
        if capture is not None and dump_path == self.config.trainer.get("validation_data_dir", None):
            capture["dump_keys"] = list(reward_extra_infos_dict.get("uid", []))
            capture["dump_outputs"] = list(outputs)
        return original(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path)

    return _dump_generations


def _wrap_metrics_update(original):
    @functools.wraps(original)
    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, *args, **kwargs):
        out = original(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, *args, **kwargs)
        expected_acc_counts = args[0] if args else kwargs.get("expected_acc_counts")
        capture = getattr(self, _CAPTURE_ATTR, None) or {}
        setattr(self, _CAPTURE_ATTR, None)
        out.update(validation_metrics(self, data_sources, sample_uids, reward_extra_infos_dict, expected_acc_counts,
                                      capture.get("outputs"), capture.get("dump_keys"), capture.get("dump_outputs")))
        return out

    return _val_metrics_update


def patch_trainer(module) -> None:
    """Wrap the three validation methods of the v1 ``module.PPOTrainer`` (idempotent)."""
    patch_class(module.PPOTrainer)


def patch_legacy_trainer(module) -> None:
    """Wrap the three validation methods of the legacy ``module.RayPPOTrainer`` (idempotent)."""
    patch_class(module.RayPPOTrainer)


def patch_class(cls) -> None:
    """Wrap the three validation methods of ``cls`` (idempotent).

    Raises:
        RuntimeError: a method's parameters are not those of verl 0.9.1 (the hook would read the
            wrong arguments).
    """
    for name, variants in _SIGNATURES.items():
        fn = cls.__dict__.get(name)
        params = list(inspect.signature(fn).parameters) if fn is not None else None
        if fn is not None and is_patched(fn):
            continue
        if params not in variants:
            raise RuntimeError(f"verl_mupo cannot hook this verl's validation: {cls.__name__}.{name}"
                               f"{tuple(params) if params else ' is missing'} is not "
                               f"{' or '.join(str(tuple(v)) for v in variants)}. {SUPPORTED}")
    wrap_once(cls, "_maybe_log_val_generations", _wrap_log_generations)
    wrap_once(cls, "_dump_generations", _wrap_dump)
    wrap_once(cls, "_val_metrics_update", _wrap_metrics_update)
