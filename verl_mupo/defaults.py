"""The paper's MUPO settings, read from ``verl_mupo/hydra_config/mupo/paper.yaml`` (the one home of
every MUPO default). Only yaml is imported, so the pure algorithm modules (:mod:`verl_mupo.partition`,
:mod:`verl_mupo.diversity`, :mod:`verl_mupo.advantages`, :mod:`verl_mupo.embedding`) take their
Python default arguments from here, and :mod:`verl_mupo.config` its dataclass defaults;
``tests/test_one_home.py`` checks the public functions' defaults against the file.
"""

from __future__ import annotations

import importlib.resources

__all__ = ["DEFAULTS", "EMBEDDER_DEFAULTS", "default"]


def _load() -> dict:
    import yaml

    text = (importlib.resources.files("verl_mupo.hydra_config") / "mupo" / "paper.yaml").read_text()
    data = yaml.safe_load(text)
    data.pop("defaults", None)
    return data


#: The paper's settings as written in ``hydra_config/mupo/paper.yaml``: ``{key: value}``, with the
#: embedder's under ``"embedder"``.
DEFAULTS: dict = _load()
#: ``DEFAULTS["embedder"]``
EMBEDDER_DEFAULTS: dict = DEFAULTS["embedder"]


def default(key: str, table: dict | None = None):
    """``table[key]`` (default table: :data:`DEFAULTS`); a ``KeyError`` naming paper.yaml when the
    file lacks the key (every MUPO setting needs its default there)."""
    table = DEFAULTS if table is None else table
    if key not in table:
        raise KeyError(f"verl_mupo/hydra_config/mupo/paper.yaml lacks the key {key!r}; every MUPO setting "
                       "needs its default there")
    return table[key]
