"""The grader's rules as one table: each rule named, with the steps of the comparison table that decide
it, what it pays and refuses in words, and right and wrong examples that the tests grade
(``tests/test_grader_rules.py``). ``docs/grader.md``'s rule table is :func:`markdown` of this table,
kept equal by that test.

The order is the order in which the rules decide (the first that decides, decides). The first rows,
without steps, are read before the comparison table, by :func:`verl_mupo.scoring.grade` and
:func:`verl_mupo.scoring.compute_score` (what is visible, multiple choice, yes/no); every other row
names, in order, the keys of the rules of :data:`verl_mupo.grading.compare.TABLE` that implement it,
and together they name every key of that table once, in its order (checked by the test).
Examples are ``(ground truth, answer)`` pairs, graded with :func:`verl_mupo.scoring.grade`.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Rule", "RULES", "markdown"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One rule. ``name``: what it is about; ``decided_by``: the helpers it uses (modules of
    :mod:`verl_mupo.grading`); ``right``/``wrong``: what it pays and refuses, in words (Markdown);
    ``right_examples``/``wrong_examples``: ``(ground truth, answer)`` pairs it must grade 1 and 0;
    ``steps``: the keys of its rules in :data:`verl_mupo.grading.compare.TABLE`, in order (empty: read
    before that table, by :mod:`verl_mupo.scoring`)."""

    key: str
    name: str
    decided_by: str
    right: str
    wrong: str
    right_examples: tuple[tuple[str, str], ...]
    wrong_examples: tuple[tuple[str, str], ...]
    steps: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule('invisible', 'what a reader cannot see (before every rule)',
         'visible.visible, visible.drop_comments, visible.undecorate',
         'what shows: `3<ZWSP>4` is `34`; `3\\phantom{\\text{ or } 4}`, `3\\textcolor{white}{..}`, `3 % 4` then a line break are `3`; `\\color{red}3`, `\\textcolor{red}{3}`, `\\boxed 3`, `½` read as their content',
         'what is hidden: the same answers for `4`, or for `3` when they show `34`',
         (('34', '3\u200b4'), ('3', '3\\phantom{\\text{ or } 4}'), ('3', '3\\textcolor{white}{\\text{ or } 4}'), ('3', '3 % 4\n'), ('3', '\\color{red}3'), ('0.5', '½')),
         (('3', '3\u200b4'), ('4', '3\\phantom{\\text{ or } 4}'), ('4', '3\\textcolor{white}{\\text{ or } 4}'), ('4', '3 % 4\n'))),
    Rule('choice', 'multiple choice (ground truth `C`, `(C)`, `C.`; several: `A, C`)',
         'choices.answer_letters, choices.option_texts',
         '`C`, `(C)`, `C.`, `C: 12 cm`, `\\text{C}`, `option C`, `Answer: (C)`; the option\'s text when the options are known (`extra_info["options"]`, or `A. ...` lines in `extra_info["question"]`) or the ground truth carries it (`A. 12 cm`)',
         "another letter; `C or D`, `C, D`, `C/D` (a hedge); option text without the options; a second option named after the letter's text: `C. 12, D. 13`, `C) D)`, `C. 12 or D`, `(C) 12 or (D) 13` (a bare letter alone is the option's text: `C. D`)",
         (('C', '(C)'), ('C', 'C: 12 cm'), ('C', '\\text{C}'), ('C', 'option C'), ('C', 'Answer: (C)')),
         (('C', 'D'), ('C', 'C or D'), ('C', 'C, D'), ('C', 'C/D'))),
    Rule('letters', 'several letters (`A, C`; `AC` with `answer_type: choices`)',
         'choices.answer_letters',
         'the same set in any order and spelling (`C, A`, `(A)(C)`)',
         'a subset, a superset',
         (('A, C', 'C, A'), ('A, C', '(A)(C)')),
         (('A, C', 'A'), ('A, C', 'A, C, D'))),
    Rule('yes_no', 'yes/no (`Yes`, `No`, `True`, `False`)',
         'choices.yes_no',
         'the same word alone',
         '`Yes or No`, `Yes, it is`',
         (('Yes', 'yes'), ('No', '\\text{No}')),
         (('Yes', 'Yes or No'), ('Yes', 'Yes, it is'))),
    Rule('same_text', 'equal text',
         'latex.compact',
         'the same text up to spacing: `x+1` = `x + 1`',
         '',
         (('x + 1', 'x+1'),),
         (),
         steps=('same_text',)),
    Rule('several', 'several answers (`8, 9`, `8 \\text{ or } 9`, `8 \\text{ and/or } 9`, `\\pm 2`, `\\{1, 2\\}`), in any notation',
         'structure.top_level_parts, structure.relation_union, structure.named_tuples',
         'the same answers in any order (`9, 8`; `\\pm 2` = `2, -2`); relations joined by "or" as a union: `x < -1 \\text{ or } x > 3` = `(-\\infty, -1) \\cup (3, \\infty)`; solutions as named values against tuples: `p=5,q=2;p=7,q=2` = `(7, 2), (5, 2)`, `x = 1, y = 2` = `(1, 2)`',
         '**a hedge**: `8 \\text{ or } 9` for `8`, `8, 9` for `8`; `p=2,q=5;p=2,q=7` for `(5,2),(7,2)`',
         (('8, 9', '9, 8'), ('2, -2', '\\pm 2'), ('(-\\infty, -1) \\cup (3, \\infty)', 'x < -1 \\text{ or } x > 3'), ('(5,2),(7,2)', 'p=5,q=2;p=7,q=2')),
         (('8', '8 \\text{ or } 9'), ('8', '8, 9'), ('(5,2),(7,2)', 'p=2,q=5;p=2,q=7')),
         steps=('notation', 'several')),
    Rule('chains', 'chains of `=` and `\\approx`, named values',
         'structure.split_name, chains.chain_answers',
         '`x = 3` for `3` and `3` for `x = 3`; `\\angle ABC = 30^\\circ`, `\\|AB\\| = 5`, `A:B = 1`, `x_1 + x_2 = 3`, `f(1) = 3`, `\\pi r^2 = 28.26` for their value; a chain whose every step restates the constant side before it answers with each constant side (one quantity, several forms): `2 \\times 3 = 6 \\text{ cm}` for `6`, `\\frac{1}{4} = 25\\%` for `25\\%`, `x = \\frac{1}{3} \\approx 0.33` for `\\frac{1}{3}` and for `0.33`, `2.5 \\approx 3` (half up), `100 \\text{ cm} = 1 \\text{ m}` and `10 \\text{ m/s} = 36 \\text{ km/h}` (listed units convert), `\\frac{\\pi}{6} = 30^\\circ`, `9\\pi \\approx 28.26` and `400\\pi \\approx 1256` (school pi), `\\frac{2}{3} \\approx 0.66` (truncated), `\\frac{10000}{3} \\approx 3.3 \\times 10^3`, `e \\approx 2.718` for `e`',
         '`y = 3` for `x = 3`; **a false chain**: `2 + 2 = 5`, `\\frac{1}{2} = \\frac{10}{9}`, `\\frac{1}{3} \\approx 0.4`, `0.3 \\approx 0.4`, `2 \\approx 2.4` (finer than what it restates), `8 \\approx 9`, `AB = 4 = 3`, `1 \\text{ m} = 60 \\text{ cm}`, `30^\\circ = 0.5` (degrees are radians only beside `\\pi`); a side that is not a constant is no answer when the chain has one (`\\log_2 8 = 4` answers `4` only); a chain without a constant side, or with units that do not convert (`5 \\text{ N} = 5 \\text{ kg}`), answers with its last side: a chain never offers two candidates that are not one quantity (`verl_mupo/grading/chains.py`)',
         (('3', 'x = 3'), ('x = 3', '3'), ('6', '2 \\times 3 = 6 \\text{ cm}'), ('\\frac{1}{3}', 'x = \\frac{1}{3} \\approx 0.33')),
         (('x = 3', 'y = 3'), ('5', '2 + 2 = 5'), ('\\frac{1}{3}', '\\frac{1}{3} \\approx 0.4'), ('2', '2 \\approx 2.4')),
         steps=('chain', 'named_value')),
    Rule('units', 'units (closed list, below)',
         'units.split_unit',
         'removed from both sides (then compared by the next rules): `12 cm` = `12` = `12\\text{ cm}`; `45^\\circ` = `45`; `\\$15` = `15`; a `%` is kept for the numbers rule',
         '`12 m` for `12 cm` (listed units differ); units are not converted: `120 mm` is not `12 cm`',
         (('12 cm', '12'), ('12 \\text{ cm}', '12'), ('45', '45^\\circ'), ('15', '\\$15')),
         (('12 cm', '12 m'), ('12 cm', '120 mm')),
         steps=('units',)),
    Rule('count_words', 'count words',
         'units.split_count_word',
         '`5 apples` for `5 apples`; `5` for `5 apples`; with units and count words removed, equal text is equal (`12` for `12 cm`; not with a `%`: the numbers rule reads it)',
         '`5 bananas` for `5 apples` (`5 apples` for `5`: the prose rule)',
         (('5 apples', '5 apples'), ('5 apples', '5')),
         (('5 apples', '5 bananas'),),
         steps=('count_words',)),
    Rule('points', 'point names',
         'structure.strip_point_name',
         '`A(1, 2)` = `(1, 2)` (a capital name before coordinates; not `f(x)`)',
         'the coordinates still count: `A(2, 1)` for `(1, 2)`',
         (('(1, 2)', 'A(1, 2)'),),
         (('(1, 2)', 'A(2, 1)'),),
         steps=('point_name',)),
    Rule('relations', 'relations',
         'structure.relation_interval, structure.has_relation',
         '`x > 3` as its interval when the other side is one: `(3, \\infty)`, `[1, 2)` = `1 \\le x < 2` = `x \\in [1, 2)`; `x \\geqslant 5` is `x \\ge 5`; a range of an absolute value as two intervals: `1 \\le \\|z\\| \\le 2` = `[-2, -1] \\cup [1, 2]`, `\\|x\\| < 2` = `(-2, 2)`',
         '**a relation for a value**: `\\ge 5`, `> 5`, `\\ne 5`, `\\neg 5`, `x \\ge 5`, `\\sim 5`, `x \\to 5`, `5 \\cong 6` for `5`',
         (('(3, \\infty)', 'x > 3'), ('[1, 2)', '1 \\le x < 2'), ('[-2, -1] \\cup [1, 2]', '1 \\le |z| \\le 2')),
         (('5', '\\ge 5'), ('5', 'x \\ge 5'), ('5', '\\ne 5')),
         steps=('relation_interval', 'relation')),
    Rule('value', 'a final answer is a value (numeric ground truths)',
         'values.unevaluated, values.copied_from_question',
         'values: fractions, roots, pi multiples, scientific notation, percent, a chain with a value side (`2 \\times 3 = 6`)',
         'arithmetic left to do on literal numbers: products, powers, sums, binomials, factorials, integrals, limits, whole-valued roots; before the table (`scoring.grade`, given `extra_info["question"]`), an answer copied from the question that is not the ground truth\'s own form',
         (('1500', '1.5 \\times 10^{3}'), ('3', '\\frac{12}{4}'), ('6', '2 \\times 3 = 6'), ('2^{10}', '2^{10}')),
         (('1024', '2^{10}'), ('120', '\\binom{10}{3}'), ('120', '5!'), ('\\frac{1}{2}', '\\int_0^1 x\\,dx'), ('4', '\\sqrt{16}'), ('391', '17 \\times 23')),
         steps=('value',)),
    Rule('tuples', 'unions, tuples, intervals, sets',
         'structure.union_parts, structure.bracketed',
         'unions in any order; `(1, 2)` = `\\left(1,2\\right)`; `\\langle 1, 2 \\rangle` = `(1, 2)`; intervals with the same brackets; sets in any order; a bracket around one element is dropped (`(x+1)` = `x+1`)',
         '`(2, 1)` for `(1, 2)`; `[1, 2]` for `[1, 2)`; `\\{1, 3\\}` for `(1, 3)`; a tuple for a value',
         (('(1, 2)', '\\left(1,2\\right)'), ('(1, 2) \\cup (3, 4)', '(3, 4) \\cup (1, 2)'), ('\\{1, 2\\}', '\\{2, 1\\}')),
         (('(1, 2)', '(2, 1)'), ('[1, 2)', '[1, 2]'), ('(1, 3)', '\\{1, 3\\}')),
         steps=('union', 'brackets')),
    Rule('numbers', 'numbers and constants, percent',
         'numeric.evaluate, numeric.values_equal',
         'two integers **exactly** (`10001` is not `10000`); otherwise equal within a **relative 1e-4**: `7.0`, `1,000`, `1{,}000`, `\\frac{1}{2}` = `0.5`, `2\\sqrt{3}` = `\\sqrt{12}` = `3.4641`, `12\\pi` = `37.699`; `50\\%` = `50` = `0.5` (a `%` on one side may be read either way)',
         '`3.46` for `2\\sqrt{3}`, `1.73` for `\\sqrt{3}` (give the precision asked for; math-verify and MathRuler agree), `0.0002` for `0.0001`; `0.6` for `60` (without a `%` sign, 60 is sixty)',
         (('7', '7.0'), ('1000', '1,000'), ('0.5', '\\frac{1}{2}'), ('\\sqrt{12}', '2\\sqrt{3}'), ('3.4641', '2\\sqrt{3}'), ('37.699', '12\\pi'), ('50\\%', '50'), ('50\\%', '0.5')),
         (('10000', '10001'), ('2\\sqrt{3}', '3.46'), ('\\sqrt{3}', '1.73'), ('0.0001', '0.0002'), ('60', '0.6')),
         steps=('numbers',)),
    Rule('text', 'text answers',
         'latex.words',
         '`Triangle` = `the triangle` (case-blind, without a leading article)',
         '`isosceles triangle` for `triangle`',
         (('Triangle', 'the triangle'),),
         (('triangle', 'isosceles triangle'),),
         steps=('words',)),
    Rule('prose', 'prose after a value',
         'compare._trailing_prose',
         'a function name is not prose (`2 \\sin x + 1` for `1 + 2\\sin x` goes on, to math-verify); words the ground truth has too',
         'a value followed by any number of words the ground truth does not have: `5 apples` for `5`, `5 \\text{ because the triangle is isosceles}`',
         (('1 + 2\\sin x', '2 \\sin x + 1'),),
         (('5', '5 apples'), ('5', '5 \\text{ because the triangle is isosceles}')),
         steps=('prose',)),
    Rule('equations', 'equations',
         'numeric.same_equation',
         '`y = 2x + 4` = `2x - y + 4 = 0` (a constant multiple of the same polynomial)',
         '`x^2 = 9` for `x = 3`',
         (('2x - y + 4 = 0', 'y = 2x + 4'),),
         (('x = 3', 'x^2 = 9'),),
         steps=('equations',)),
    Rule('expressions', 'expressions (one evaluator, four sample points)',
         'numeric.same_function',
         '`x + 1` = `1 + x`; `(x-1)(x+1)` = `x^2-1`; `\\frac{x}{2}` = `0.5x`',
         '`2x` for `2`; `x^2` for `2x`',
         (('x + 1', '1 + x'), ('x^2-1', '(x-1)(x+1)'), ('0.5x', '\\frac{x}{2}')),
         (('2', '2x'), ('2x', 'x^2')),
         steps=('expressions',)),
    Rule('symbolic', 'anything else',
         'symbolic.symbolic_equal (math-verify, in pool workers)',
         'math-verify decides: trigonometry (`2\\sin x \\cos x` = `\\sin 2x`), logarithms, `e`, `i`, matrices, mixed numbers (`2\\frac{1}{2}` = `2.5`)',
         'what math-verify finds unequal, or cannot decide within the response\'s budget: `2\\sin x \\sin x` for `\\sin 2x`, `3\\ln 3` for `\\ln 8`, `2\\frac{1}{3}` for `2.5`',
         (('\\sin 2x', '2\\sin x \\cos x'), ('2.5', '2\\frac{1}{2}')),
         (('\\sin 2x', '2\\sin x \\sin x'), ('\\ln 8', '3\\ln 3'), ('2.5', '2\\frac{1}{3}')),
         steps=('symbolic',)),
)


def _cell(text: str) -> str:
    return text.replace("\n", " ")


def markdown() -> str:
    """The rule table of ``docs/grader.md`` (Markdown), from :data:`RULES`."""
    lines = ["| rule | steps (`compare.TABLE`) | helpers (`verl_mupo/grading/`) | right | wrong |",
             "|---|---|---|---|---|"]
    for r in RULES:
        steps = ", ".join(f"`{k}`" for k in r.steps) or "before the table"
        lines.append(f"| {_cell(r.name)} | {steps} | `{r.decided_by}` | {_cell(r.right)} | {_cell(r.wrong)} |")
    return "\n".join(lines)
