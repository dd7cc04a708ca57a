"""The one way verl_mupo changes a verl function: wrap it once and mark it.

Every patch the plugin makes (``validate_config``, ``PPOTrainer._compute_advantage`` and ``fit``,
the validation metrics, the mRoPE position-id fix, the CPU backend's process-group backend) goes
through :func:`wrap_once`, so a second import, a second plugin load or a module imported twice never
wraps a function twice, and ``python -m verl_mupo.doctor`` can tell what is installed with
:func:`is_patched`.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from verl_mupo.glue.versions import KNOWN_VERL_TEXT

__all__ = ["PATCHED_ATTR", "ORIGINAL_ATTR", "wrap_once", "is_patched", "original_of"]

PATCHED_ATTR = "__verl_mupo_patched__"
ORIGINAL_ATTR = "__verl_mupo_original__"


def is_patched(fn: Any) -> bool:
    """Whether ``fn`` is a wrapper made by :func:`wrap_once`."""
    return bool(getattr(fn, PATCHED_ATTR, False))


def original_of(fn: Any) -> Any:
    """The function a :func:`wrap_once` wrapper wraps (``fn`` itself if it is not one)."""
    return getattr(fn, ORIGINAL_ATTR, fn)


def wrap_once(owner: Any, name: str, make_wrapper: Callable[[Callable], Callable],
              rebind_in: Iterable[str] = ()) -> bool:
    """Replace ``owner.<name>`` by ``make_wrapper(original)`` unless it is already wrapped.

    Args:
        owner: a module or a class. For a class only its own ``__dict__`` is looked at, so a
            subclass never wraps its parent's method a second time.
        name: the attribute to wrap.
        make_wrapper: builds the wrapper from the original (use ``functools.wraps`` inside).
        rebind_in: names of modules that imported the function by name (``from m import f``); where
            such a module is already imported and still holds the original, it gets the wrapper too.

    Returns:
        ``True`` if the wrapper was installed now, ``False`` if it was there already.

    Raises:
        AttributeError: ``owner`` has no attribute ``name`` (the verl version moved it).
    """
    current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if current is None:
        raise AttributeError(f"verl_mupo: {getattr(owner, '__name__', owner)!r} has no {name!r} to wrap; "
                             f"this verl version is not supported ({KNOWN_VERL_TEXT})")
    if is_patched(current):
        return False
    wrapper = make_wrapper(current)
    setattr(wrapper, PATCHED_ATTR, True)
    setattr(wrapper, ORIGINAL_ATTR, current)
    setattr(owner, name, wrapper)
    for module_name in rebind_in:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, name, None) is current:
            setattr(module, name, wrapper)
    return True
