"""Which verl is installed, and whether verl_mupo knows it. No side effects: importing this module
registers nothing (``python -m verl_mupo.doctor`` reads it before deciding whether verl's own
plugin loading registered MUPO)."""

from __future__ import annotations

import importlib.metadata

from verl_mupo.glue.storage import KNOWN_VERL, KNOWN_VERL_TEXT

__all__ = ["installed_verl_version", "check_verl_version"]


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
    (:data:`verl_mupo.glue.storage.KNOWN_VERL`)."""
    v = installed_verl_version()
    lo, hi = KNOWN_VERL
    if not (lo <= v < hi):
        raise RuntimeError(
            f"verl_mupo supports {KNOWN_VERL_TEXT} (it hooks verl internals: the v1 trainer and its batch storage, "
            f"verl_mupo/glue/storage.py); this environment has verl "
            f"{'.'.join(map(str, v))}. Install verl==0.9.1 or a verl_mupo release for your verl."
        )
