"""A ``transformers`` rollout backend for verl 0.9.1 (``actor_rollout_ref.rollout.name=hf``).

Three pieces, mirroring verl's vLLM backend:

- :class:`HFGenerationServer`: a Ray actor holding the policy in ``transformers``. Concurrent
  ``generate`` calls (one per agent-loop session) are queued and served in batches: requests that
  arrive within ``batch_window_s`` of each other and share sampling settings are left-padded and
  generated together. Returns token ids and their log-probs (under the sampling temperature).
- :class:`HFReplica`: verl's ``RolloutReplica`` for it; launches one named server per replica.
- :class:`HFServerAdapter`: verl's ``BaseRollout`` inside the hybrid actor worker; pushes the
  trainer's updated weights to the server every step.

Text and images: a policy whose config has a ``vision_config`` (Qwen2.5-VL) is loaded as an
image-text model with its processor; each request's images are turned into ``pixel_values`` and
``image_grid_thw`` by the processor's image processor, ``mm_token_type_ids`` mark the image tokens of
the prompt (transformers computes 3-D mRoPE positions only when they are given) and the vision
special tokens are never sampled. Videos and audio are refused; no LoRA, no tensor parallelism.

Environment: ``VERL_MUPO_CPU_SEED`` (default 0), ``VERL_MUPO_CPU_GEN_THREADS`` (torch threads, default
1), ``VERL_MUPO_CPU_DETERMINISTIC=1`` (one request at a time, each seeded from its prompt, its rank
among identical prompts and a checksum of the weights, so two runs, or a run and its resumed copy,
sample the same responses; used to compare MUPO with K=1 against GRPO and to test resuming),
``VERL_MUPO_CPU_BLANK_IMAGES=1`` (a diagnostic: the rollout sees white images of the same size, so the
rollout/actor log-prob gap verl logs shows how much the actor's log-probs depend on the pixels).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import ray
import torch

from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

logger = logging.getLogger(__name__)

SERVER_NAME = "verl_mupo_hf_server_{replica}"


@dataclass
class _Request:
    prompt_ids: list[int]
    max_tokens: int
    sampling: tuple
    future: asyncio.Future = field(repr=False)
    images: list = field(default_factory=list)
    pixels: dict | None = field(default=None, repr=False)  # the image processor's output for ``images``


def _digest(state: dict) -> int:
    """A 32-bit checksum of named tensors (their names and bytes, in name order)."""
    h = 0
    for name in sorted(state):
        h = zlib.crc32(name.encode(), h)
        h = zlib.crc32(state[name].detach().to(torch.float32).contiguous().numpy().tobytes(), h)
    return h


def _blank_like(image):
    """A white image of ``image``'s size and mode (PIL)."""
    from PIL import Image

    return Image.new(image.mode, image.size, "white")


def is_vision_language(config) -> bool:
    """Whether a ``transformers`` config describes an image-text model (it has a vision tower)."""
    return getattr(config, "vision_config", None) is not None


class HFGenerationServer:
    """Generates with a ``transformers`` causal LM on CPU.

    Args:
        model_path: local directory of the policy (config, weights, tokenizer).
        response_length: default and maximum new tokens per request.
        max_batch_size: most requests generated together.
        batch_window_s: how long the first request of a batch waits for others.
        num_threads: torch threads for generation.
    """

    def __init__(self, model_path: str, response_length: int, max_batch_size: int = 64,
                 batch_window_s: float = 0.02, num_threads: int = 1, seed: int = 0, deterministic: bool = False,
                 ignore_eos: bool = False, blank_images: bool = False):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

        torch.set_num_threads(num_threads)
        torch.manual_seed(seed)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.vision = is_vision_language(AutoConfig.from_pretrained(model_path))
        model_cls = AutoModelForImageTextToText if self.vision else AutoModelForCausalLM
        self.model = model_cls.from_pretrained(model_path, dtype=torch.float32, attn_implementation="sdpa")
        self.model.eval()
        self.processor = AutoProcessor.from_pretrained(model_path) if self.vision else None
        # token ids that mark image/video positions in a prompt, and the vision tokens never sampled
        cfg = self.model.config
        self.image_token_id = getattr(cfg, "image_token_id", None)
        self.video_token_id = getattr(cfg, "video_token_id", None)
        self.suppress_ids = sorted({i for i in (self.image_token_id, self.video_token_id,
                                                getattr(cfg, "vision_start_token_id", None),
                                                getattr(cfg, "vision_end_token_id", None)) if i is not None})
        self.response_length = int(response_length)
        self.ignore_eos = bool(ignore_eos)  # rollout.ignore_eos, as verl's vLLM server applies it
        self.blank_images = bool(blank_images)
        self.max_batch_size = int(max_batch_size)
        self.batch_window_s = float(batch_window_s)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        eos = self.tokenizer.eos_token_id
        self.eos_ids = {eos} if isinstance(eos, int) else set(eos or [])
        self.global_steps: Optional[int] = None
        self.weight_version = 0
        self.weights_digest = 0
        self.batches_run = 0
        self.requests_served = 0
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.seed = int(seed)
        # deterministic: every request is generated alone, seeded from its prompt, its rank among
        # identical prompts and the weight version, so a run repeats exactly whatever the timing
        self.deterministic = bool(deterministic)
        if self.deterministic:
            self.max_batch_size = 1
        self._occurrences: dict[tuple, int] = {}

    # -- generation -------------------------------------------------------------------------
    async def generate(self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str,
                       image_data=None, video_data=None, audio_data=None, mm_processor_kwargs=None,
                       priority: int = 0, kv_transfer_params=None, **kwargs) -> TokenOutput:
        if video_data or audio_data:
            raise NotImplementedError("the hf CPU rollout takes text and images; videos and audio need rollout.name=vllm on a GPU")
        images = list(image_data or [])
        if images and not self.vision:
            raise ValueError("the hf CPU rollout got images for a text-only model "
                             f"({type(self.model).__name__}); use a vision-language policy (actor_rollout_ref.model.path)")
        max_tokens, sampling = self.sampling_of(sampling_params)
        pixels = self.pixels_for(list(prompt_ids), images) if images else None
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # a new event loop (in-process use): a new queue
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve())
        future = loop.create_future()
        await self._queue.put(_Request(list(prompt_ids), max_tokens, sampling, future, images, pixels))
        token_ids, log_probs, stop = await future
        return TokenOutput(token_ids=token_ids, log_probs=log_probs, stop_reason=stop,
                           extra_fields={"global_steps": self.global_steps})

    def sampling_of(self, sampling_params: dict[str, Any]) -> tuple[int, tuple]:
        """``(max_tokens, (temperature, top_p, top_k, ignore_eos))`` from verl's sampling parameters.

        Raises:
            ValueError: a value outside what sampling means (the message names the parameter);
            NotImplementedError: a ``repetition_penalty`` other than 1 (not applied by this rollout).
        """
        params = dict(sampling_params)
        max_tokens = params.pop("max_tokens", params.pop("max_new_tokens", self.response_length))
        temperature = float(params.get("temperature", 1.0) if params.get("temperature") is not None else 1.0)
        top_p = float(params.get("top_p", 1.0) if params.get("top_p") is not None else 1.0)
        top_k = int(params.get("top_k", -1) if params.get("top_k") is not None else -1)
        penalty = float(params.get("repetition_penalty", 1.0) or 1.0)
        if int(max_tokens) < 1:
            raise ValueError(f"hf rollout: max_tokens must be >= 1, got {max_tokens}")
        if not (temperature >= 0 and np.isfinite(temperature)):
            raise ValueError(f"hf rollout: temperature must be a finite number >= 0 (0: greedy), got {temperature}"
                             " (actor_rollout_ref.rollout.temperature / val_kwargs.temperature)")
        if not 0 < top_p <= 1:
            raise ValueError(f"hf rollout: top_p must be in (0, 1], got {top_p} (actor_rollout_ref.rollout.top_p)")
        if top_k < -1:
            raise ValueError(f"hf rollout: top_k must be -1 (off), 0 (off) or >= 1, got {top_k}")
        if penalty != 1.0:
            raise NotImplementedError(f"hf rollout: repetition_penalty={penalty} is not applied by the CPU rollout; use 1.0")
        max_tokens = min(int(max_tokens), self.response_length)
        return max_tokens, (temperature, top_p, top_k, bool(params.get("ignore_eos", self.ignore_eos)))

    def pixels_for(self, prompt_ids: list[int], images: list) -> dict:
        """The image processor's ``pixel_values`` and ``image_grid_thw`` for one request's pictures,
        after checking that its prompt holds exactly as many image tokens as they make.

        Raises:
            ValueError: the prompt ids and the pictures do not belong together.
        """
        shown = [_blank_like(im) for im in images] if self.blank_images else images  # diagnostic: no picture
        pixels = self.processor.image_processor(images=shown, return_tensors="pt")
        expected = int((pixels["image_grid_thw"].prod(-1) // self.processor.image_processor.merge_size ** 2).sum())
        found = sum(1 for t in prompt_ids if t == self.image_token_id)
        if found != expected:
            raise ValueError(f"hf rollout: the prompt holds {found} image tokens but its {len(images)} image(s) "
                             f"make {expected}; the prompt ids and the images do not belong together")
        return {"pixel_values": pixels["pixel_values"], "image_grid_thw": pixels["image_grid_thw"]}

    async def _serve(self):
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.batch_window_s
            while len(batch) < self.max_batch_size:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            groups: dict[tuple, list[_Request]] = {}
            for req in batch:
                groups.setdefault(req.sampling, []).append(req)
            for sampling, reqs in groups.items():
                try:
                    results = await asyncio.to_thread(self._generate_batch, reqs, sampling)
                except Exception as e:  # noqa: BLE001 - hand the error to every waiting caller
                    for r in reqs:
                        if not r.future.done():
                            r.future.set_exception(e)
                    continue
                for r, res in zip(reqs, results):
                    if not r.future.done():
                        r.future.set_result(res)

    def _request_seed(self, req: _Request) -> int:
        # the weights themselves (a digest), so a run resumed from a checkpoint samples what the
        # uninterrupted run sampled with the same weights; the pixels, since prompts about different
        # images have the same token ids
        version = self.weights_digest
        pixels = 0
        for im in req.images:
            pixels = zlib.crc32(im.tobytes(), pixels)
        key = (version, pixels, tuple(req.prompt_ids))
        rank = self._occurrences.get(key, 0)
        self._occurrences[key] = rank + 1
        payload = np.asarray([self.seed, version, pixels, rank, *req.prompt_ids], dtype=np.int64).tobytes()
        return zlib.crc32(payload)

    def vision_inputs(self, reqs: list[_Request], input_ids: torch.Tensor) -> dict:
        """``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids`` for a left-padded batch
        (pictures in row order, as the prompts' image tokens are); empty for a text-only batch."""
        parts = [r.pixels if r.pixels is not None else self.pixels_for(r.prompt_ids, r.images)
                 for r in reqs if r.images]
        if not parts:
            return {}
        token_type = torch.zeros_like(input_ids)
        token_type[input_ids == self.image_token_id] = 1
        if self.video_token_id is not None:
            token_type[input_ids == self.video_token_id] = 2
        return {"pixel_values": torch.cat([p["pixel_values"] for p in parts]),
                "image_grid_thw": torch.cat([p["image_grid_thw"] for p in parts]), "mm_token_type_ids": token_type}

    @torch.no_grad()
    def _generate_batch(self, reqs: list[_Request], sampling: tuple):
        temperature, top_p, top_k, ignore_eos = sampling
        if self.deterministic:
            torch.manual_seed(self._request_seed(reqs[0]))
        width = max(len(r.prompt_ids) for r in reqs)
        input_ids = torch.full((len(reqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(reqs), width), dtype=torch.long)
        for i, r in enumerate(reqs):  # left padding
            input_ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
            attention[i, width - len(r.prompt_ids):] = 1
        max_new = max(r.max_tokens for r in reqs)
        do_sample = temperature > 0
        kwargs = dict(do_sample=do_sample, max_new_tokens=max_new, pad_token_id=self.pad_id,
                      eos_token_id=sorted(self.eos_ids) or None, return_dict_in_generate=True, output_logits=True)
        if self.suppress_ids:
            kwargs["suppress_tokens"] = self.suppress_ids
        if ignore_eos:  # every response runs to its maximum length
            kwargs["min_new_tokens"] = max_new
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p, top_k=top_k if top_k > 0 else 0)
        out = self.model.generate(input_ids=input_ids, attention_mask=attention, **self.vision_inputs(reqs, input_ids),
                                  **kwargs)
        new_tokens = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1).float()  # (B, T, V) raw logits
        scale = temperature if do_sample else 1.0
        logp = torch.log_softmax(logits / scale, dim=-1).gather(-1, new_tokens[..., None])[..., 0]
        results = []
        for i, r in enumerate(reqs):
            ids = new_tokens[i, : r.max_tokens].tolist()
            stop = "length"
            for t, tok in enumerate(ids):
                if tok in self.eos_ids and not ignore_eos:
                    ids = ids[: t + 1]
                    stop = "completed"
                    break
            results.append((ids, logp[i, : len(ids)].tolist(), stop))
        self.batches_run += 1
        self.requests_served += len(reqs)
        return results

    # -- weights and lifecycle (verl's server interface) -----------------------------------
    def load_weights(self, named_tensors: list[tuple[str, torch.Tensor]], global_steps: Optional[int] = None) -> dict:
        state = {name: t for name, t in named_tensors}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        # tied embeddings arrive once; everything else must match
        missing = [m for m in missing if not (m == "lm_head.weight" and self.model.config.tie_word_embeddings)]
        if unexpected or missing:
            raise RuntimeError(f"hf rollout: weight sync mismatch, missing={missing[:5]} unexpected={unexpected[:5]}")
        if global_steps is not None:
            self.global_steps = int(global_steps)
        self.weight_version += 1
        if self.deterministic:
            self.weights_digest = _digest(state)
        self._occurrences.clear()
        return {"tensors": len(state), "weight_version": self.weight_version}

    def stats(self) -> dict:
        return {"batches_run": self.batches_run, "requests_served": self.requests_served,
                "weight_version": self.weight_version, "global_steps": self.global_steps}

    async def wake_up(self):
        return None

    async def sleep(self):
        return None

    async def abort_all_requests(self, reject_request: bool = False):
        return None

    async def resume_generation(self):
        return None

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None


class HFReplica(RolloutReplica):
    """One :class:`HFGenerationServer` per replica, named ``verl_mupo_hf_server_<rank>``."""

    async def launch_servers(self):
        if self.world_size != 1:
            raise ValueError(
                "the hf CPU rollout runs one process per replica: set actor_rollout_ref.rollout."
                "tensor_model_parallel_size=1 (and data/pipeline parallel sizes 1)"
            )
        name = SERVER_NAME.format(replica=self.replica_rank)
        model_path = self.model_config.local_path if hasattr(self.model_config, "local_path") else self.model_config.path
        server_cls = ray.remote(HFGenerationServer)
        self._server_handle = server_cls.options(
            name=name, num_cpus=0, max_concurrency=self.max_concurrency, lifetime=None,
        ).remote(
            model_path=model_path,
            response_length=self.config.response_length,
            ignore_eos=bool(self.config.get("ignore_eos", False)),
            blank_images=os.environ.get("VERL_MUPO_CPU_BLANK_IMAGES", "0") == "1",
            max_batch_size=max(1, int(self.config.max_num_seqs or 64)),
            num_threads=int(os.environ.get("VERL_MUPO_CPU_GEN_THREADS", "1")),
            seed=int(os.environ.get("VERL_MUPO_CPU_SEED", "0")),
            deterministic=os.environ.get("VERL_MUPO_CPU_DETERMINISTIC", "0") == "1",
        )
        await self._server_handle.stats.remote()  # wait until the model is loaded
        self.servers = [self._server_handle]
        self._server_address = f"ray://{name}"

    def rollout_worker_use_gpu(self) -> bool:
        return False


class HFServerAdapter(BaseRollout):
    """The hybrid worker's handle on its replica's server: weight sync and no-op memory calls."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, **kwargs):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        self.replica_rank = rank if replica_rank == -1 else replica_rank
        self._is_server_rank = True
        self._server = None

    def _handle(self):
        if self._server is None:
            self._server = ray.get_actor(SERVER_NAME.format(replica=self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    async def update_weights(self, weights, wire_format: str = "named_tensors", **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf CPU rollout takes named tensors, not {wire_format}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("the hf CPU rollout does not support LoRA adapters")
        tensors = []
        for name, tensor in weights:
            if hasattr(tensor, "full_tensor"):
                tensor = tensor.full_tensor()
            tensors.append((name, tensor.detach().to("cpu", copy=True)))
        await self._handle().load_weights.remote(tensors, kwargs.get("global_steps"))


def register() -> None:
    """Make ``rollout.name=hf`` resolvable by verl (idempotent)."""
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = f"{__name__}.HFServerAdapter"
    RolloutReplicaRegistry.register("hf", lambda: HFReplica)


register()
