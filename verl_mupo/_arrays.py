"""Small helpers shared by the math modules: numpy/torch in, the same kind out; rows grouped by
prompt id. No verl import."""

from __future__ import annotations

import numpy as np

try:  # torch is a dependency, but the numpy paths must not need it
    import torch
except ImportError:  # pragma: no cover
    torch = None


def is_tensor(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def as_numpy(x) -> np.ndarray:
    """A numpy view/copy of an array-like (torch tensors are detached and moved to CPU)."""
    if is_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def like_input(value: np.ndarray, reference):
    """Return ``value`` as a torch tensor on ``reference``'s device if ``reference`` is a tensor,
    else as a numpy array."""
    if is_tensor(reference):
        return torch.from_numpy(np.ascontiguousarray(value)).to(reference.device)
    return value


def prompt_ids(index, num_rows: int) -> tuple[np.ndarray, int]:
    """Map each row's prompt id to ``0 .. P-1`` (in sorted order of the ids, so the mapping does
    not depend on row order). Returns ``(inverse (B,), P)``."""
    idx = as_numpy(index)
    if idx.shape[0] != num_rows:
        raise ValueError(f"index has {idx.shape[0]} entries but there are {num_rows} rows")
    if idx.dtype == object:
        idx = idx.astype(str)
    uniq, inverse = np.unique(idx, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniq)


def group_rows(index, num_rows: int) -> list[np.ndarray]:
    """Row numbers of each prompt, prompts in sorted-id order, rows in ascending order."""
    inverse, num_prompts = prompt_ids(index, num_rows)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=num_prompts)
    return np.split(order, np.cumsum(counts)[:-1])


def unit_rows(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """``(rows scaled to unit length, their original norms)``; float32 unless given float64; zero
    rows stay zero. Raises on a non-2-D array or NaN/inf values."""
    x = as_numpy(embeddings)
    x = x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf; check the embedder (algorithm.mupo.embedder.*)")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    return x / np.where(norms == 0, 1, norms)[:, None], norms
