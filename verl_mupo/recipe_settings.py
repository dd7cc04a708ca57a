"""The check ``recipes/virl39k/run.sh`` runs before any other work, in a real run as in ``DRY_RUN=1``::

    python -m verl_mupo.recipe_settings NAME=VALUE ...

Each numeric setting in its range (:data:`verl_mupo.dry_run.RECIPE_SETTINGS`, the one home of the
ranges), then the settings against each other (:data:`RECIPE_RELATIONS`): a pair verl refuses only
after an 18 s compose, with a traceback (``MINI_BATCH`` above ``TRAIN_BATCH``), stops here with a
line ``run.sh: MINI_BATCH=256 with TRAIN_BATCH=128: ...`` on stderr, exit code 2.
"""

from __future__ import annotations

import sys
from typing import Callable, Mapping, NamedTuple

from verl_mupo.dry_run import check_recipe as check_each
from verl_mupo.dry_run import check_recipe_setting

__all__ = ["RecipeRelation", "RECIPE_RELATIONS", "check_recipe_relations", "check_recipe", "main"]


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
    """``NAME=VALUE ...``: print every setting out of range (:func:`verl_mupo.dry_run.check_recipe`),
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
