"""Small helpers shared by the math modules: numpy/torch in, the same kind out; rows grouped by
prompt id; input checks with clear errors. No verl import.

Dtypes: integer, bool, float16 and bfloat16 values are computed in float32; float32 and float64 stay
as they are. Results come back as the input's kind (numpy array or torch tensor on the input's
device) and, for floating inputs, the input's dtype.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np


def _torch():
    """torch if something imported it already, else ``None``: a tensor cannot exist without it, so
    the numpy paths (and the validators, which the evaluation and the settings use) never import it."""
    return sys.modules.get("torch")


def is_tensor(x) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def as_numpy(x) -> np.ndarray:
    """A numpy view/copy of an array-like (torch tensors are detached and moved to CPU; bfloat16,
    which numpy lacks, becomes float32)."""
    if is_tensor(x):
        x = x.detach().cpu()
        if x.dtype == _torch().bfloat16:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def compute_dtype(x) -> np.dtype:
    """The numpy dtype to compute ``x``'s values in: float64 for float64, float32 otherwise."""
    dt = x.dtype
    if is_tensor(x):
        return np.dtype(np.float64) if dt == _torch().float64 else np.dtype(np.float32)
    return np.dtype(np.float64) if np.dtype(dt) == np.float64 else np.dtype(np.float32)


def floats_like(value: np.ndarray, reference):
    """``value`` (float) as ``reference``'s kind: a tensor on its device or a numpy array, in
    ``reference``'s floating dtype (float16, bfloat16, float32, float64), float32 for integer and
    bool references."""
    if is_tensor(reference):
        torch = _torch()
        out = torch.from_numpy(np.ascontiguousarray(value))
        dt = reference.dtype if reference.dtype.is_floating_point else torch.float32
        return out.to(device=reference.device, dtype=dt)
    ref = np.asarray(reference)
    dt = ref.dtype if np.issubdtype(ref.dtype, np.floating) else np.dtype(np.float32)
    return np.asarray(value).astype(dt, copy=False)


def like_input(value: np.ndarray, reference):
    """Return ``value`` as a torch tensor on ``reference``'s device if ``reference`` is a tensor,
    else as a numpy array (dtype unchanged)."""
    if is_tensor(reference):
        return _torch().from_numpy(np.ascontiguousarray(value)).to(reference.device)
    return value


def one_per_row(x, name: str, num_rows: int) -> np.ndarray:
    """``x`` as a 1-D numpy array of ``num_rows`` entries, or a ValueError naming ``name``."""
    arr = as_numpy(x)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a (B, 1) column
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != num_rows:
        raise ValueError(f"{name} must have one entry per row ({num_rows}), got shape {tuple(arr.shape)}")
    return arr


def is_number(value) -> bool:
    """Whether ``value`` is a real number (Python or numpy; finite or not), never a bool or a
    string: the one test of "a number" behind every validator of the package (the settings in
    :mod:`verl_mupo.config`, the evaluation's sampling settings, the math modules' arguments)."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_, str))


def is_integer(value, integral_float: bool = True) -> bool:
    """Whether ``value`` is an integer (Python or numpy int; never a bool or a string), or, with
    ``integral_float``, a finite float with an integral value such as ``3.0`` (from a YAML or a
    sweep tool)."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return True
    return (integral_float and isinstance(value, (float, np.floating)) and math.isfinite(value)
            and float(value).is_integer())


def check_number(name: str, value) -> float:
    """``value`` as a float after checking it is a finite real number (not a bool or a string)."""
    if not is_number(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name: str, value, allow_zero: bool) -> float:
    """``value`` as a float after checking it is a finite number ``> 0`` (``>= 0`` with ``allow_zero``)."""
    if not is_number(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def check_finite_result(values, what: str, cause: str, dtype=None) -> None:
    """Raise ValueError if ``values`` (a numpy array; cast to ``dtype`` first when given, as its reader
    will) holds NaN or inf: a result computed from checked inputs that still blew up. The message says
    how many of ``what`` and names ``cause``, the setting that produced them."""
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(np.asarray(values) if dtype is None else np.asarray(values).astype(dtype))
    if not ok.all():
        raise ValueError(f"{int((~ok).sum())} of {ok.size} {what} are NaN or inf, produced by {cause}; "
                         "MUPO stops here rather than train on them")


def check_integer(name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int after checking it is an integer (a Python or numpy int, or a float with an
    integral value such as 3.0; never a bool or a string) ``>= minimum``."""
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """``value`` after checking it is a bool (Python or numpy): ``"false"`` is not false."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def group_labels(labels, num_rows: int) -> np.ndarray:
    """``labels`` as a ``(num_rows,)`` int64 array of group ids: integers (integral floats such as
    1.0 are accepted), ``>= -1`` (``-1``: a row left out of clustering).

    Raises:
        ValueError: a wrong length, non-integer labels (0.7 would be truncated to 0), labels below -1."""
    lab = one_per_row(labels, "labels", num_rows)
    if not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == bool):
        ok = np.issubdtype(lab.dtype, np.floating) and bool(np.isfinite(lab).all())
        as_int = lab.astype(np.int64) if ok else None
        if as_int is None or not np.array_equal(as_int, lab):
            raise ValueError(f"labels must be integers (group of each row, -1 for rows left out), got dtype {lab.dtype}"
                             + (f" with values like {lab[lab != np.round(lab)][:3].tolist()}" if ok else ""))
        lab = as_int
    lab = lab.astype(np.int64)
    if num_rows and lab.min() < -1:
        raise ValueError(f"labels must be >= -1 (-1: row left out of clustering), got {int(lab.min())}")
    return lab


def check_binary_accuracy(acc, num_rows: int | None = None, name: str = "acc") -> np.ndarray:
    """``acc`` as a float64 array (``(num_rows,)`` when given) after checking every entry is 0 or 1
    (the precision gate of the diversity term needs it).

    Raises:
        ValueError: a wrong length, or values other than 0 and 1 (NaN included)."""
    a = as_numpy(acc).reshape(-1) if num_rows is None else one_per_row(acc, name, num_rows)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numbers 0 or 1, got dtype {a.dtype}")
    a = a.astype(np.float64)
    ok = (a == 0) | (a == 1)
    if not ok.all():
        bad = a[~ok][:5].tolist()
        raise ValueError(
            f"MUPO needs a binary accuracy per response ({name}), got values like {bad}. Make the reward function "
            "(reward.custom_reward_function.*) return a dict with 'acc' in {0, 1}, or use "
            "reward.reward_manager.name=mupo with verl_mupo's scorer."
        )
    return a


def _id_family_of_type(t: type) -> str:
    """The kind of a prompt id of type ``t``: ids of one kind compare as the same values do."""
    if issubclass(t, (str, np.str_)):
        return "str"
    if issubclass(t, (bool, np.bool_)):
        return "bool"
    if issubclass(t, (numbers.Integral, np.integer)):
        return "int"
    if issubclass(t, (numbers.Real, np.floating)):
        return "float"
    if issubclass(t, (bytes, np.bytes_)):
        return "bytes"
    return t.__name__


def prompt_ids(index, num_rows: int) -> tuple[np.ndarray, int]:
    """Map each row's prompt id to ``0 .. P-1`` (in sorted order of the ids, so the mapping does
    not depend on row order). Returns ``(inverse (B,), P)``.

    Raises:
        ValueError: ``index`` does not have ``num_rows`` entries, or mixes kinds of ids (``1`` and
            ``"1"`` would otherwise be merged into one prompt)."""
    if isinstance(index, (list, tuple)):
        # keep each id's own type: np.asarray would turn [1, "1"] into the strings "1", "1" and
        # [True, 1] into the integers 1, 1 before the kinds could be compared
        index = np.asarray(index, dtype=object) if len(index) else np.asarray(index)
    idx = one_per_row(index, "index", num_rows)
    if idx.dtype == object:
        families = {_id_family_of_type(t) for t in set(map(type, idx.tolist()))}
        if len(families) > 1:
            raise ValueError(f"index mixes kinds of prompt ids ({', '.join(sorted(families))}): ids of different kinds "
                             "that look alike (1 and '1', True and 1, b'a' and 'a') would become one prompt. Give every "
                             "row the same kind of id (verl's uid strings)")
        if families == {"int"}:
            idx = idx.astype(np.int64)
        elif families == {"float"}:
            idx = idx.astype(np.float64)
        else:
            idx = idx.astype(str)
    if num_rows == 0:
        return np.zeros(0, dtype=np.int64), 0
    uniq, inverse = np.unique(idx, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniq)


def group_rows(index, num_rows: int) -> list[np.ndarray]:
    """Row numbers of each prompt, prompts in sorted-id order, rows in ascending order."""
    inverse, num_prompts = prompt_ids(index, num_rows)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=num_prompts)
    return np.split(order, np.cumsum(counts)[:-1])


def unit_rows(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """``(rows scaled to unit length, a (B,) bool: the row is non-zero)``; float32 unless given
    float64; zero rows stay zero. A row whose squared norm overflows or underflows (1e38 or 1e-30
    in float32) is divided by its largest absolute value first, so it normalises like any other.

    Raises:
        ValueError: a non-2-D array, or NaN/inf values."""
    x = as_numpy(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {x.shape}")
    x = x.astype(compute_dtype(embeddings), copy=False)
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf; check the embedder (algorithm.mupo.embedder.*)")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    # rows whose squared norm overflowed (1e38 in float32) or underflowed to zero: divide by the
    # largest entry first, then normalise
    bad = ~np.isfinite(norms) | ((norms == 0) & np.any(x != 0, axis=1)) if len(x) else np.zeros(0, dtype=bool)
    if bad.any():
        x = x.copy()
        scale = np.abs(x[bad]).max(axis=1)
        x[bad] = x[bad] / scale[:, None]
        norms[bad] = np.sqrt(np.einsum("ij,ij->i", x[bad], x[bad]))
    nonzero = norms > 0
    return x / np.where(nonzero, norms, 1)[:, None], nonzero


def check_nonzero_rows(nonzero: np.ndarray, used: np.ndarray | None = None) -> None:
    """Refuse all-zero embedding rows among the ``used`` ones (``(B,)`` bool; default: every row):
    a zero row has no direction, so its cosine to anything is undefined. ``nonzero`` is
    :func:`unit_rows`' second output. The one check of this, for the partition and the diversity
    bonus alike.

    Raises:
        ValueError: naming the first zero rows."""
    zero = np.nonzero(~nonzero if used is None else (used & ~nonzero))[0]
    if len(zero):
        raise ValueError(f"embedding row(s) {zero[:5].tolist()}{'...' if len(zero) > 5 else ''} are all zeros; cosine "
                         "geometry is undefined for them (the embedder, algorithm.mupo.embedder.*, returned no "
                         "direction). Give such rows label -1 / valid=False to leave them out")
