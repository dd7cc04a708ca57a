"""Which verl is installed, and whether verl_mupo knows it. No side effects: importing this module
registers nothing (``python -m verl_mupo.doctor`` reads it before deciding whether verl's own
plugin loading registered MUPO).

The one home of the supported verl range: :data:`KNOWN_VERL` (tuples) and :data:`KNOWN_VERL_TEXT`
(the pip specifier, derived from it). The version guard, the storage adapter, the hooks' error
messages and the mRoPE fix read them from here; ``tests/test_package.py`` checks that the verl
requirement in ``pyproject.toml`` is the same range.
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["KNOWN_VERL", "KNOWN_VERL_TEXT", "SUPPORTED", "installed_verl_version", "check_verl_version"]

#: verl versions whose internals verl_mupo hooks, ``(lowest, first unsupported)``: 0.9.1 <= verl <
#: 0.10 (the v1 trainer's ``_compute_advantage``, its TransferQueue batch storage as
#: :mod:`verl_mupo.glue.storage` reads it, the legacy trainer's ``compute_advantage``).
KNOWN_VERL: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 9, 1), (0, 10, 0))


def _dotted(v: tuple[int, ...]) -> str:
    """``(0, 10, 0)`` -> ``"0.10"``: trailing zero parts dropped, at least ``major.minor`` kept."""
    parts = list(v)
    while len(parts) > 2 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


#: :data:`KNOWN_VERL` as a pip specifier: ``"verl>=0.9.1,<0.10"``
KNOWN_VERL_TEXT = f"verl>={_dotted(KNOWN_VERL[0])},<{_dotted(KNOWN_VERL[1])}"
#: the sentence the hooks append to a "cannot hook this verl" error
SUPPORTED = f"verl_mupo supports {KNOWN_VERL_TEXT}."


def installed_verl_version() -> tuple[int, ...]:
    """``(major, minor, patch)`` of the installed verl distribution (digits of each part only)."""
    raw = importlib.metadata.version("verl")
    parts = []
    for p in raw.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_verl_version() -> None:
    """Raise ``RuntimeError`` unless the installed verl is one whose internals verl_mupo knows
    (:data:`KNOWN_VERL`)."""
    v = installed_verl_version()
    lo, hi = KNOWN_VERL
    if not (lo <= v < hi):
        raise RuntimeError(
            f"verl_mupo supports {KNOWN_VERL_TEXT} (it hooks verl internals: the v1 trainer and its batch storage, "
            f"verl_mupo/glue/storage.py); this environment has verl "
            f"{'.'.join(map(str, v))}. Install verl=={_dotted(lo)} or a verl_mupo release for your verl."
        )
