"""The paper's published numbers, to draw beside ours (one table, each entry with its source).

Source: "All Roads Lead to Rome: Incentivizing Divergent Thinking in Vision-Language Models"
(MUPO, CVPR 2026, arXiv 2604.00479), as transcribed in the project's copy of the paper summary
(``/work/shared/papers/mupo-all-roads-lead-to-rome.md``). That copy carries two tables and no
table numbers; they are named here by what they hold:

- ``main``: "Main Results", 7B models, the math average (six benchmarks) and the general average,
  acc@1 and acc@4 in %;
- ``ablation_k``: "Impact of group number K", 7B, per benchmark; K=1 is GRPO, K=3 the paper's
  MUPO. The source does not say whether these are acc@1 or acc@4; they are drawn at k=1, the
  level they sit at next to the main table's acc@1 (a labelled assumption, ``metric="unstated"``).

The paper's scores come from VLMEvalKit with LLM judges on some sets (answer extraction on
MathVista, judging on MMVet); ours are rule-scored, so the markers are a reference, not a target.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PaperNumber", "PAPER_RESULTS", "paper_numbers_for"]


@dataclass(frozen=True)
class PaperNumber:
    """One published number.

    Attributes:
        model: the model as the paper names it.
        benchmark: the catalog's canonical name, or ``math_avg`` / ``general_avg``.
        metric: ``acc@1``, ``acc@4`` or ``unstated``.
        value: in [0, 1] (the paper prints %).
        source: ``main`` or ``ablation_k`` (see the module docstring).
    """

    model: str
    benchmark: str
    metric: str
    value: float
    source: str

    @property
    def k(self) -> int:
        """Where the number is drawn on the k axis (``unstated`` at k=1)."""
        return 4 if self.metric == "acc@4" else 1


def _main(model, math1, math4, gen1, gen4):
    return [PaperNumber(model, "math_avg", "acc@1", math1 / 100, "main"),
            PaperNumber(model, "math_avg", "acc@4", math4 / 100, "main"),
            PaperNumber(model, "general_avg", "acc@1", gen1 / 100, "main"),
            PaperNumber(model, "general_avg", "acc@4", gen4 / 100, "main")]


def _ablation(model, mathverse, mathvista, mathvision, mmstar, hallusionbench):
    values = {"MathVerse": mathverse, "MathVista": mathvista, "MathVision": mathvision, "MMStar": mmstar,
              "HallusionBench": hallusionbench}
    return [PaperNumber(model, b, "unstated", v / 100, "ablation_k") for b, v in values.items()]


PAPER_RESULTS: tuple[PaperNumber, ...] = tuple(
    _main("Qwen2.5-VL-7B (base)", 40.1, 56.5, 58.0, 71.5)
    + _main("VLAA-Thinker-7B", 47.2, 51.5, 63.6, 66.2)
    + _main("Vision-R1-7B", 49.1, 52.8, 63.3, 66.1)
    + _main("MUPO-Thinker-7B", 51.6, 58.8, 65.6, 72.4)
    + _ablation("7B, K=1 (GRPO)", 46.9, 69.1, 24.1, 64.8, 54.7)
    + _ablation("7B, K=3 (MUPO)", 51.2, 74.1, 29.3, 65.8, 56.5)
)

#: the models drawn in the figures (the table in summary.md lists all)
DRAWN_MODELS = ("Qwen2.5-VL-7B (base)", "MUPO-Thinker-7B", "7B, K=1 (GRPO)", "7B, K=3 (MUPO)")


def paper_numbers_for(benchmark: str | None, models=DRAWN_MODELS) -> list[PaperNumber]:
    """The published numbers of ``benchmark`` (a canonical name or ``math_avg`` / ``general_avg``)."""
    return [p for p in PAPER_RESULTS if p.benchmark == benchmark and p.model in models]
