"""The check ``recipes/virl39k/run.sh`` runs before any other work, in a real run as in ``DRY_RUN=1``::

    python -m verl_mupo.recipe_settings NAME=VALUE ...

Each numeric setting in its range (:data:`RECIPE_SETTINGS`, the one home of the ranges; a value is
read as verl will read it, by Hydra's override parser: ``nan`` is a float there, ``007`` a text; an
integer in its plain spelling, ``1_000`` and ``+8`` are refused), then the settings against each other (:data:`RECIPE_RELATIONS`): a pair verl refuses only
after an 18 s compose, with a traceback (``MINI_BATCH`` above ``TRAIN_BATCH``), stops here with a
line ``run.sh: MINI_BATCH=256 with TRAIN_BATCH=128: ...`` on stderr, exit code 2.
"""

from __future__ import annotations

import math
import sys
from typing import Callable, Mapping, NamedTuple

__all__ = ["RecipeSetting", "RECIPE_SETTINGS", "RENAMED", "check_recipe_setting", "check_each", "RecipeRelation",
           "RECIPE_RELATIONS", "check_recipe_relations", "check_recipe", "main"]


class RecipeSetting(NamedTuple):
    """A numeric setting of ``run.sh``: ``kind`` ``int`` or ``float``; ``low`` / ``high`` the bounds
    (``None``: none), ``low_open`` whether ``low`` itself is refused; ``rule`` the range in words,
    ``key`` the verl setting it becomes."""

    kind: str
    low: float | None
    high: float | None
    low_open: bool
    rule: str
    key: str


#: run.sh's numeric environment settings and their ranges (the recipe passes each value, its default
#: included, to this module before any other work)
RECIPE_SETTINGS: dict[str, RecipeSetting] = {
    "TRAIN_BATCH": RecipeSetting("int", 1, None, False, "an integer >= 1", "data.train_batch_size"),
    "MINI_BATCH": RecipeSetting("int", 1, None, False, "an integer >= 1", "actor_rollout_ref.actor.ppo_mini_batch_size"),
    "CLIP_HIGH": RecipeSetting("float", 0, None, True, "a finite number > 0", "actor_rollout_ref.actor.clip_ratio_high"),
    "TOP_P": RecipeSetting("float", 0, 1, True, "a number in (0, 1]", "actor_rollout_ref.rollout.top_p"),
    "TEST_FREQ": RecipeSetting("int", -1, None, False, "an integer >= -1 (-1 or 0: validate only before training)",
                               "trainer.test_freq"),
    "VAL_N": RecipeSetting("int", 1, None, False, "an integer >= 1", "actor_rollout_ref.rollout.val_kwargs.n"),
    "VAL_TEMPERATURE": RecipeSetting("float", 0, None, False, "a finite number >= 0 (0: greedy)",
                                     "actor_rollout_ref.rollout.val_kwargs.temperature"),
    "EVAL_N": RecipeSetting("int", 1, None, False, "an integer >= 1",
                            "actor_rollout_ref.rollout.val_kwargs.n of MODE=eval's sampled pass"),
    "N_GPUS": RecipeSetting("int", 1, None, False, "an integer >= 1", "trainer.n_gpus_per_node"),
    "NNODES": RecipeSetting("int", 1, None, False, "an integer >= 1", "trainer.nnodes"),
    "FILTER_GROUPS": RecipeSetting("int", 0, 1, False, "0 or 1 (1: verl drops and refills groups whose accuracy has "
                                   "no spread)", "algorithm.filter_groups.enable"),
    "DRY_RUN": RecipeSetting("int", 0, 1, False, "0 or 1 (1: compose and validate only)", "run.sh"),
    "OVERWRITE": RecipeSetting("int", 0, 1, False, "0 or 1 (1: replace an earlier MODE=eval evaluation)", "run.sh"),
}


#: settings of ``run.sh`` that were renamed: ``{old name: (new name, why)}``. An old name set in the
#: environment stops the recipe (exit code 2) rather than being ignored.
RENAMED: dict[str, tuple[str, str]] = {
    "ONLINE_FILTER": ("FILTER_GROUPS", "it sets verl's algorithm.filter_groups (drop the groups whose accuracy has "
                      "no spread and refill the batch, GRPO and MUPO alike), not MUPO's own online filter "
                      "algorithm.mupo.online_filtering (zero advantage, no refill, MUPO runs only; set it as a Hydra "
                      "override)"),
}


def check_recipe_setting(name: str, value: str) -> str | None:
    """``None`` if ``value`` is in the range of :data:`RECIPE_SETTINGS` ``[name]``, else the error line.

    The value is parsed by Hydra's override parser, as verl's command line will parse it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    spec = RECIPE_SETTINGS[name]
    try:
        parsed = OverridesParser.create().parse_override(f"value={value}").value()
    except Exception:  # noqa: BLE001  Hydra's grammar refuses it: not a number either
        parsed = None
    if spec.kind == "int":  # in its plain spelling (no 1_0, +8 or spaces): run.sh also does arithmetic on it
        number = type(parsed) is int and str(parsed) == value
    else:
        number = type(parsed) in (int, float) and math.isfinite(parsed)
    ok = number and (spec.low is None or (parsed > spec.low if spec.low_open else parsed >= spec.low)) and (
        spec.high is None or parsed <= spec.high)
    return None if ok else f"run.sh: {name}={value}: must be {spec.rule} ({spec.key})"


def check_each(assignments: list[str]) -> int:
    """``NAME=VALUE ...``: print every setting out of its range to stderr; exit code 2 if any."""
    errors = []
    for item in assignments:
        name, sep, value = item.partition("=")
        if name in RENAMED:
            new, why = RENAMED[name]
            errors.append(f"run.sh: {name}={value}: renamed {new}; {why}. Set {new}={value} instead")
            continue
        if not sep or name not in RECIPE_SETTINGS:
            errors.append(f"run.sh: {item!r}: not NAME=VALUE of {sorted(RECIPE_SETTINGS)}")
            continue
        error = check_recipe_setting(name, value)
        if error:
            errors.append(error)
    for error in errors:
        print(error, file=sys.stderr)
    return 2 if errors else 0


class RecipeRelation(NamedTuple):
    """Two settings of ``run.sh`` that must agree: ``holds(a, b)`` on their values (numbers, each
    already in its range); ``rule`` says it in words, with the verl check it anticipates."""

    a: str
    b: str
    holds: Callable[[float, float], bool]
    rule: str


#: The settings of ``run.sh`` checked against each other.
RECIPE_RELATIONS: tuple[RecipeRelation, ...] = (
    RecipeRelation("MINI_BATCH", "TRAIN_BATCH", lambda mini, train: mini <= train,
                   "MINI_BATCH (prompts per PPO update, actor_rollout_ref.actor.ppo_mini_batch_size) must be at most "
                   "TRAIN_BATCH (prompts per step, data.train_batch_size); verl's ActorConfig.validate refuses it "
                   "otherwise"),
)


def check_recipe_relations(values: Mapping[str, str]) -> list[str]:
    """The error lines of the :data:`RECIPE_RELATIONS` that ``values`` (``{NAME: VALUE}`` as the
    recipe passes them) break; a relation with a setting absent or out of its own range is skipped
    (that setting's own error says it)."""
    errors = []
    for rel in RECIPE_RELATIONS:
        if not all(k in values and check_recipe_setting(k, values[k]) is None for k in (rel.a, rel.b)):
            continue
        if not rel.holds(float(values[rel.a]), float(values[rel.b])):
            errors.append(f"run.sh: {rel.a}={values[rel.a]} with {rel.b}={values[rel.b]}: {rel.rule}")
    return errors


def check_recipe(assignments: list[str]) -> int:
    """``NAME=VALUE ...``: print every setting out of range (:func:`check_each`),
    then every broken relation, to stderr; exit code 2 if any."""
    code = check_each(assignments)
    values = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if sep:
            values[name] = value
    errors = check_recipe_relations(values)
    for error in errors:
        print(error, file=sys.stderr)
    return 2 if code or errors else 0


def main(argv=None) -> int:
    return check_recipe(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
