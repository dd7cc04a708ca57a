"""verl's sample key ``<prompt uid>_<session>_<index>``: the ``uid`` column of a validation dump,
split as verl 0.9.1 splits it."""

from __future__ import annotations

import re

__all__ = ["sample_key", "split_uid"]

#: verl 0.9.1's sample key: ``f"{uid}_{session_id}_{i}"`` (``verl/trainer/ppo/v1/agent_loop_tq.py``,
#: ``_agent_loop_postprocess``): the prompt uid, the session (``0 .. n-1``, one per sample) and the index of the
#: agent loop's output in that session; the prompt uid may itself contain underscores
_SAMPLE_KEY = re.compile(r"(?P<prompt>.+)_(?P<session>[0-9]+)_(?P<index>[0-9]+)")


def sample_key(uid: str) -> tuple[str, str, int]:
    """``(prompt, session, index)`` of verl's sample key ``<prompt uid>_<session>_<index>``.

    The rule is verl 0.9.1's own: its v1 trainer (``verl/trainer/ppo/v1/trainer_base.py``,
    ``_validate``) splits a key at its **last two** underscores (``key.rsplit("_", 2)``), reads both
    parts as integers and names the session ``<prompt uid>_<session>``; the validation dump's ``uid``
    column is that key, and the prompt uid is a fresh ``uuid4`` per prompt. So ``a_b_3_1`` is prompt
    ``a_b``, session ``a_b_3``, output 1, whatever underscores the prompt uid holds. Here both parts
    must be ASCII decimal digits and the prompt uid non-empty.

    Raises:
        ValueError: a key of another shape (no ``_<session>_<index>`` suffix, a suffix that is not two
            decimal integers, an empty prompt uid): it is not a key verl 0.9.1 writes, and guessing
            which of its rows are samples of one prompt could merge different prompts or samples.
    """
    m = _SAMPLE_KEY.fullmatch(str(uid))
    if m is None:
        raise ValueError(f"uid {str(uid)!r} is not verl's sample key <prompt uid>_<session>_<index> "
                         "(verl 0.9.1's v1 trainer writes it in the uid column of a validation dump)")
    return m["prompt"], f"{m['prompt']}_{m['session']}", int(m["index"])


def split_uid(uid: str, strict: bool = False) -> tuple[str, str]:
    """``(prompt, session)`` of verl's sample key ``<prompt uid>_<session>_<index>``, by verl's own
    rule (:func:`sample_key`: split at the last two underscores; the prompt uid may hold more).

    A key of another shape raises ``ValueError`` when ``strict``; otherwise it is its own prompt and
    its own session, a fallback that never joins two different keys, so it merges no samples as long
    as each key occurs once (:func:`dump_counts` is strict and refuses a key seen twice)."""
    try:
        prompt, session, _ = sample_key(uid)
    except ValueError:
        if strict:
            raise
        return str(uid), str(uid)
    return prompt, session
