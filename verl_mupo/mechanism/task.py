"""The mechanism task: "which road leads to rome" puzzles with three solution strategies whose
successes are complementary, a hidden problem class that decides which strategy works, and the scorer.

A problem is a town, four digits (``from town 3 7 0 5 which road leads to rome ?``). Three
strategies, each with its own vocabulary (two wordings each, one word apart), each ending in its
own answer:

===========  ===========================================================  ======
strategy     reasoning                                                     answer
===========  ===========================================================  ======
``coast``    ``sail along the coast , past the harbour , then north``      1
``pass``     ``climb over the mountain pass , cross the ridge , then down`` 2
``river``    ``follow the river upstream , walk the bank , then west``     3
===========  ===========================================================  ======

Every town has one open road: its *class*, a pseudo-random function of the digits (SHA-256; not
CRC32, which is linear: with it the first digit shifted the class shares by up to 6 points),
so the strategy that works is fixed for each problem but cannot be read from it. With the default
class weights ``(0.5, 0.3, 0.2)`` ``coast`` is the best single strategy (right on half the
problems), and a policy that samples all three solves almost every problem given a few samples:
acc@k of a mixture exceeds acc@k of any single strategy for k >= 2.

A strategy can also be carried out wrongly (the warm start is taught to, :func:`trace` with
``error_rate``): the reasoning follows the road but the answer is a digit 4-9, wrong for every
class. The scorer accepts an answer only when the reasoning produces it (the boxed digit is the
answer of the strategy the reasoning follows), as a verifier of the derivation would: correctness
= the right strategy for the problem x a correct execution, and RL can improve both. (Without that
rule RL learns to box the best-on-average answer after any reasoning, and the reasoning that MUPO
embeds stops deciding the outcome; see docs/mechanism.md.)

The strategy of a response is known by construction (:func:`classify`: the word that opens its
reasoning); it is used for measurement only, MUPO sees the embeddings of the reasoning text.

Scorer (verl's custom-reward signature)::

    reward.custom_reward_function.path=pkg://verl_mupo.mechanism.task reward.custom_reward_function.name=compute_score

No verl import here.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass

__all__ = [
    "Strategy", "STRATEGIES", "STRATEGY_NAMES", "OTHER", "CLASS_WEIGHTS", "DATA_SOURCE", "WRONG_ANSWERS",
    "all_problems", "problem_class", "problem_text", "answer_of", "key_of", "trace", "classify", "compute_score", "rl_record",
    "split_problems", "vocabulary",
]

DATA_SOURCE = "mupo_mechanism"
OTHER = "other"
#: default share of problems whose open road is ``coast``, ``pass``, ``river``
CLASS_WEIGHTS = (0.5, 0.3, 0.2)
#: the answers of a wrongly carried-out strategy (no strategy's answer)
WRONG_ANSWERS = (4, 5, 6, 7, 8, 9)


@dataclass(frozen=True)
class Strategy:
    """One way to answer: ``wordings`` (each opens with ``marker``, the word :func:`classify`
    reads) and ``answer`` (the digit it boxes when carried out correctly)."""

    name: str
    marker: str
    wordings: tuple[str, ...]
    answer: int


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("coast", "sail", ("sail along the coast , past the harbour , then north",
                               "sail along the shore , past the harbour , then north"), 1),
    Strategy("pass", "climb", ("climb over the mountain pass , cross the ridge , then down",
                               "climb over the mountain col , cross the ridge , then down"), 2),
    Strategy("river", "follow", ("follow the river upstream , walk the bank , then west",
                                 "follow the stream upstream , walk the bank , then west"), 3),
)
STRATEGY_NAMES: tuple[str, ...] = tuple(s.name for s in STRATEGIES)
_BY_NAME = {s.name: s for s in STRATEGIES}
_BY_MARKER = {s.marker: s.name for s in STRATEGIES}
_THINK_OPEN = re.compile(r"<think>\s*([a-z]+)")


def vocabulary() -> list[str]:
    """Every word of the prompts and reasoning texts (for the tokenizer)."""
    words = set(problem_text((0, 1, 2, 3)).split()) | {str(d) for d in range(10)} | {"user", "assistant"}
    for s in STRATEGIES:
        for w in s.wordings:
            words |= set(w.split())
    return sorted(words)


def all_problems() -> list[tuple[int, int, int, int]]:
    """Every town: the 10 000 digit quadruples, in lexicographic order."""
    return list(itertools.product(range(10), repeat=4))


def problem_class(digits, weights=CLASS_WEIGHTS) -> str:
    """The strategy that works on a problem: a SHA-256 hash of the digits mapped to
    :data:`STRATEGY_NAMES` with probabilities ``weights`` (three non-negative numbers summing to 1)."""
    if len(weights) != len(STRATEGIES) or min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-9:
        raise ValueError(f"class weights must be {len(STRATEGIES)} non-negative numbers summing to 1, got {weights}")
    digest = hashlib.sha256(("mechanism:" + "".join(map(str, digits))).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, w in zip(STRATEGY_NAMES, weights):
        acc += w
        if u < acc:
            return name
    return STRATEGY_NAMES[-1]


def problem_text(digits) -> str:
    """The user message of a problem (the answer format is taught by the warm start, not asked for)."""
    return f"from town {' '.join(map(str, digits))} which road leads to rome ?"


def answer_of(strategy: str) -> int:
    """The digit a strategy boxes when carried out correctly."""
    return _BY_NAME[strategy].answer


def key_of(digits, weights=CLASS_WEIGHTS) -> int:
    """The ground-truth answer: the open road's number."""
    return answer_of(problem_class(digits, weights))


def trace(strategy: str, rng: random.Random, error_rate: float = 0.0) -> str:
    """A response that follows ``strategy`` (wording drawn by ``rng``); with probability
    ``error_rate`` carried out wrongly (a :data:`WRONG_ANSWERS` digit boxed)."""
    s = _BY_NAME[strategy]
    x = rng.choice(WRONG_ANSWERS) if rng.random() < error_rate else s.answer
    return f"<think> {rng.choice(s.wordings)} </think> \\boxed{{{x}}}"


def classify(response: str) -> str:
    """The strategy a response follows: the word right after ``<think>`` (each strategy's wordings
    open with their own marker word), or :data:`OTHER`."""
    m = _THINK_OPEN.search(response or "")
    return _BY_MARKER.get(m.group(1), OTHER) if m else OTHER


def split_problems(seed: int, heldout: int):
    """``(train, heldout)`` problem lists: :func:`all_problems` shuffled by ``seed``, the last
    ``heldout`` held out."""
    probs = all_problems()
    if not 0 < heldout < len(probs):
        raise ValueError(f"heldout must be between 1 and {len(probs) - 1}, got {heldout}")
    random.Random(seed).shuffle(probs)
    return probs[:-heldout], probs[-heldout:]


def rl_record(digits, index: int, split: str, weights=CLASS_WEIGHTS) -> dict:
    """One row of verl's RL parquet schema."""
    return {
        "data_source": DATA_SOURCE,
        "prompt": [{"role": "user", "content": problem_text(digits)}],
        "ability": "puzzle",
        "reward_model": {"style": "rule", "ground_truth": str(key_of(digits, weights))},
        "extra_info": {"index": index, "split": split, "town": " ".join(map(str, digits)),
                       "problem_class": problem_class(digits, weights)},
    }


def compute_score(data_source=None, solution_str="", ground_truth="", extra_info=None, **kwargs) -> dict:
    """verl's custom-reward signature: ``{"score": acc, "acc": 0/1, "format": 0/1, "answer": the boxed
    answer, "strategy": the :func:`classify` name, "data_source"}``. ``acc`` is 1 when the last
    ``\\boxed{}`` holds the ground truth *and* that is the answer of the strategy the reasoning
    follows (an answer the reasoning does not produce is wrong). Never raises. (The answer is not returned as ``pred``: verl
    would bootstrap majority votes over it in every validation, the slowest part of it here.)"""
    from verl_mupo.scoring import last_boxed
    from verl_mupo.text import has_valid_format

    text = solution_str if isinstance(solution_str, str) else str(solution_str)
    strategy = classify(text)
    try:
        pred = last_boxed(text)
        supported = strategy != OTHER and pred is not None and pred.strip() == str(_BY_NAME[strategy].answer)
        acc = float(supported and pred.strip() == str(ground_truth).strip())
        fmt = float(has_valid_format(text))
    except Exception:  # noqa: BLE001 - never raise inside verl's reward loop
        pred, acc, fmt = None, 0.0, 0.0
    return {"score": acc, "acc": acc, "format": fmt, "answer": "" if pred is None else str(pred),
            "strategy": strategy, "data_source": str(data_source)}
