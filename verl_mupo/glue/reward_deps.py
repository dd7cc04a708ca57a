"""Whether the default reward path can grade here.

``reward.custom_reward_function.path=pkg://verl_mupo.scoring`` (the README's and the recipes'
scorer) sends what its string and number rules cannot decide to math-verify. verl 0.9.1 installs
math-verify only with its ``math`` extra, so verl-mupo lists it as a core dependency; this module
checks that it really works in this environment (import and one LaTeX parse on the antlr4 runtime
Hydra pins), for the doctor, the dry run and the start-up checks, so a broken install stops before
training instead of at the first answer that needs a symbolic check, hours in.
"""

from __future__ import annotations

from omegaconf import OmegaConf

__all__ = ["SCORER_MODULE", "INSTALL_HINT", "grader_problem", "uses_project_scorer"]

#: the module of the project's scorer (``pkg://verl_mupo.scoring``)
SCORER_MODULE = "verl_mupo.scoring"
INSTALL_HINT = ("`pip install 'math-verify>=0.7'` (a core dependency of verl-mupo: `pip install verl-mupo` "
                "installs it)")


def grader_problem() -> str | None:
    """``None`` when math-verify imports and decides ``\\frac{1}{2} = 0.5`` here, else what is wrong
    and how to install it."""
    try:
        import math_verify  # noqa: F401
    except Exception as e:  # noqa: BLE001  ImportError, or a broken dependency (antlr4, sympy)
        return f"the grader's symbolic stage cannot import math-verify ({type(e).__name__}: {e}); {INSTALL_HINT}"
    from verl_mupo.grading.symbolic import symbolic_equal  # the grader's own call, in this process

    try:
        ok = symbolic_equal("\\frac{1}{2}", "0.5")
    except Exception as e:  # noqa: BLE001
        return f"math-verify is installed but fails on a LaTeX fraction ({type(e).__name__}: {e}); {INSTALL_HINT}"
    if not ok:
        return ("math-verify is installed but cannot parse LaTeX here (\\frac{1}{2} = 0.5 was not decided; "
                f"is latex2sympy2_extended's antlr4 runtime missing?); {INSTALL_HINT}")
    return None


def uses_project_scorer(config) -> bool:
    """Whether a verl config grades with :data:`SCORER_MODULE` (``reward.custom_reward_function.path``,
    or verl's older top-level ``custom_reward_function.path``)."""
    for key in ("reward.custom_reward_function.path", "custom_reward_function.path"):
        path = OmegaConf.select(config, key, default=None) if OmegaConf.is_config(config) else None
        if path and (SCORER_MODULE in str(path) or str(path).replace("\\", "/").endswith("verl_mupo/scoring.py")):
            return True
    return False
