"""The CPU backend's ``transformers`` rollout (``verl_mupo.cpu.hf_rollout``) on the tiny Qwen2.5-VL
and Qwen2, in process: images in, tokens and log-probs out that a plain forward pass reproduces."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from verl_mupo.cpu.assets import build_all
from verl_mupo.cpu.hf_rollout import HFGenerationServer, _Request

SAMPLING = (1.0, 1.0, -1, False)  # temperature, top_p, top_k, ignore_eos


@pytest.fixture(scope="module")
def vl(tmp_path_factory):
    paths = build_all(tmp_path_factory.mktemp("vl"), kind="vl")
    from transformers import AutoProcessor

    frame = pd.read_parquet(paths["train"])
    images = [Image.open(io.BytesIO(imgs[0]["bytes"])).convert("RGB") for imgs in frame["images"][:4]]
    return {"paths": paths, "processor": AutoProcessor.from_pretrained(paths["model"]), "images": images}


@pytest.fixture(scope="module")
def server(vl):
    return HFGenerationServer(vl["paths"]["model"], response_length=12, seed=0)


def prompt_ids(vl, question: str, n_images: int = 1) -> list[int]:
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": question}]
    text = vl["processor"].apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                               tokenize=False)
    ids = vl["processor"](text=[text], images=vl["images"][:n_images])["input_ids"][0]
    return list(ids)


def request(ids, images, sampling=SAMPLING, max_tokens=12):
    return _Request(ids, max_tokens, sampling, None, list(images))


def forward_log_probs(server, ids, response, images):
    """Log-probs of ``response`` after ``ids`` from one plain forward pass with the pictures."""
    full = torch.tensor([ids + response])
    extra = server.vision_inputs([request(ids, images)], full)
    with torch.no_grad():
        logits = server.model(input_ids=full, attention_mask=torch.ones_like(full), **extra).logits[0].float()
    lp = torch.log_softmax(logits, -1)[len(ids) - 1: -1]
    return lp.gather(-1, torch.tensor(response)[:, None])[:, 0]


def test_loads_the_image_text_model_and_its_processor(server):
    assert server.vision and server.processor is not None
    assert type(server.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert server.image_token_id in server.suppress_ids


def test_batched_generation_with_images_matches_a_forward_pass(vl, server):
    reqs = [request(prompt_ids(vl, "how many dots" + " ?" * i), [vl["images"][i]]) for i in range(3)]
    results = server._generate_batch(reqs, SAMPLING)  # left-padded batch of three prompts of different lengths
    for req, (tokens, log_probs, stop) in zip(reqs, results):
        assert 1 <= len(tokens) <= 12 and len(log_probs) == len(tokens)
        assert not set(tokens) & set(server.suppress_ids), "a vision token was sampled"
        ref = forward_log_probs(server, req.prompt_ids, tokens, req.images)
        assert torch.allclose(ref, torch.tensor(log_probs), atol=1e-5), (ref, log_probs)


def test_the_pictures_change_the_log_probs(vl, server):
    ids = prompt_ids(vl, "how many dots are in the image ?")
    tokens = server._generate_batch([request(ids, [vl["images"][0]])], SAMPLING)[0][0]
    with_picture = forward_log_probs(server, ids, tokens, [vl["images"][0]])
    blank = forward_log_probs(server, ids, tokens, [Image.new("RGB", vl["images"][0].size, "white")])
    assert (with_picture - blank).abs().mean() > 1e-4


def test_ignore_eos_runs_every_response_to_the_maximum(vl, server):
    reqs = [request(prompt_ids(vl, "how many dots ?"), [vl["images"][i]], (1.0, 1.0, -1, True)) for i in range(3)]
    for tokens, _, stop in server._generate_batch(reqs, (1.0, 1.0, -1, True)):
        assert len(tokens) == 12 and stop == "length"


def test_image_tokens_and_images_must_belong_together_request_by_request(vl, server):
    one = prompt_ids(vl, "how many dots ?", n_images=1)
    two = prompt_ids(vl, "how many dots ?", n_images=2)
    text_only = vl["processor"].tokenizer("how many dots ?")["input_ids"]
    with pytest.raises(ValueError, match="image tokens"):
        server.pixels_for(one, vl["images"][:2])
    # two prompts whose counts are wrong one by one but right together: each is refused on its own
    with pytest.raises(ValueError, match="image tokens"):
        server.pixels_for(two, vl["images"][:1])
    with pytest.raises(ValueError, match="image tokens"):
        asyncio.run(server.generate(text_only, {"temperature": 1.0}, "r0", image_data=vl["images"][:1]))
    tokens = asyncio.run(server.generate(one, {"temperature": 1.0}, "r1", image_data=vl["images"][:1])).token_ids
    assert tokens  # the same server still serves good requests, from a second event loop


@pytest.mark.parametrize("params, match", [
    ({"temperature": -1.0}, "temperature"), ({"top_p": 0.0}, "top_p"), ({"top_p": 2.0}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"), ({"top_k": -5}, "top_k"),
])
def test_invalid_sampling_parameters_are_refused(server, params, match):
    with pytest.raises(ValueError, match=match):
        server.sampling_of({"temperature": 1.0, **params})


def test_a_repetition_penalty_is_refused_not_ignored(server):
    with pytest.raises(NotImplementedError, match="repetition_penalty"):
        server.sampling_of({"temperature": 1.0, "repetition_penalty": 2.0})
    assert server.sampling_of({"temperature": 0, "repetition_penalty": 1.0})[1][0] == 0.0


def test_videos_are_refused_and_images_need_a_vision_model(tmp_path_factory, vl, server):
    ids = prompt_ids(vl, "how many dots ?")
    with pytest.raises(NotImplementedError, match="videos"):
        asyncio.run(server.generate(ids, {"temperature": 1.0}, "r1", video_data=[object()]))
    text_paths = build_all(tmp_path_factory.mktemp("text"), kind="text")
    text_server = HFGenerationServer(text_paths["model"], response_length=4)
    assert not text_server.vision
    with pytest.raises(ValueError, match="text-only model"):
        asyncio.run(text_server.generate([1, 2, 3], {"temperature": 1.0}, "r2", image_data=[vl["images"][0]]))


def test_deterministic_seeds_tell_pictures_apart(vl):
    server = HFGenerationServer(vl["paths"]["model"], response_length=12, seed=0, deterministic=True)
    ids = prompt_ids(vl, "how many dots are in the image ?")
    seeds = [server._request_seed(request(ids, [im])) for im in vl["images"][:2]]
    assert seeds[0] != seeds[1], "prompts with the same token ids but other pictures got one seed"
    again = HFGenerationServer(vl["paths"]["model"], response_length=12, seed=0, deterministic=True)
    assert again._request_seed(request(ids, [vl["images"][0]])) == seeds[0]


def test_blank_images_diagnostic_shows_white_pictures(vl):
    server = HFGenerationServer(vl["paths"]["model"], response_length=12, blank_images=True)
    ids = prompt_ids(vl, "how many dots ?")
    shown = server.pixels_for(ids, [vl["images"][0]])["pixel_values"]
    white = server.processor.image_processor(images=[Image.new("RGB", vl["images"][0].size, "white")],
                                             return_tensors="pt")["pixel_values"]
    assert torch.equal(shown, white)


def test_both_tiny_models_have_heads_vllms_cpu_attention_supports(tmp_path_factory, vl):
    # vLLM 0.24's CPU attention (cpu_attn.py) has kernels for head sizes 32, 64, 80, ... but not 16;
    # the hf and vllm rollouts share these assets, so both models use heads of 32
    from transformers import AutoConfig

    text = AutoConfig.from_pretrained(build_all(tmp_path_factory.mktemp("text_heads"), kind="text")["model"])
    vl_text = AutoConfig.from_pretrained(vl["paths"]["model"]).text_config
    for cfg in (text, vl_text):
        assert cfg.hidden_size // cfg.num_attention_heads == 32
        assert cfg.num_attention_heads == 2 and cfg.num_key_value_heads == 1
    # Qwen2.5-VL's rotary sections cover half the head (pairs of dimensions)
    assert list(vl_text.rope_parameters["mrope_section"]) == [4, 6, 6]
    assert sum(vl_text.rope_parameters["mrope_section"]) == 32 // 2


def test_assets_built_by_older_code_are_rebuilt(tmp_path):
    import json

    paths = build_all(tmp_path, kind="text")
    marker = tmp_path / "assets.json"
    stamp = json.loads(marker.read_text())
    stamp.pop("version")  # what the code before heads of 32 wrote
    marker.write_text(json.dumps(stamp))
    (Path(paths["model"]) / "config.json").write_text("{}")
    build_all(tmp_path, kind="text")
    assert json.loads((Path(paths["model"]) / "config.json").read_text())["num_attention_heads"] == 2
