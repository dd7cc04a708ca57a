"""Issue 19, the rules as one table: the decision is :data:`verl_mupo.grading.compare.TABLE`, walked in
order; verl_mupo/grading/rules.py describes each of its steps in the same order, docs/grader.md's rule
table is that description's Markdown, and every example in it is graded as labelled."""

import re
from pathlib import Path

import pytest

from verl_mupo.grading import compare
from verl_mupo.grading.compare import TABLE, Pair, decide
from verl_mupo.grading.rules import RULES, markdown
from verl_mupo.scoring import grade

DOC = Path(__file__).resolve().parents[1] / "docs" / "grader.md"
RIGHT = [(r.key, g, a) for r in RULES for g, a in r.right_examples]
WRONG = [(r.key, g, a) for r in RULES for g, a in r.wrong_examples]
ONLY_PAYS = {"same_text"}  # a rule that never refuses (it pays or passes): no wrong example of its own


def test_the_docs_rule_table_is_the_codes():
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- rules:[^\n]*-->\n(.*?)\n<!-- /rules -->", text, re.DOTALL)
    assert m, "docs/grader.md lost its generated rule table markers"
    assert m.group(1) == markdown(), "regenerate docs/grader.md's rule table from verl_mupo.grading.rules.markdown()"


def test_the_described_rules_are_the_executed_ones_in_order():
    keys = [key for key, _ in TABLE]
    assert len(set(keys)) == len(keys)
    assert [step for r in RULES for step in r.steps] == keys, "rules.RULES must name compare.TABLE's keys in its order"
    assert all(rule.__name__ == key for key, rule in TABLE)
    first_step = next(i for i, r in enumerate(RULES) if r.steps)
    assert all(r.steps for r in RULES[first_step:]), "rows read before the table (no steps) come first"


def test_every_rule_has_examples_both_ways():
    assert len({r.key for r in RULES}) == len(RULES)
    for r in RULES:
        assert r.right_examples and (r.wrong_examples or r.key in ONLY_PAYS), r.key


def test_the_first_rule_that_decides_decides_and_rewrites_go_on(monkeypatch):
    seen = []

    def look(pair, oracle):
        seen.append(pair)
        return None

    def strip_name(pair, oracle):
        return Pair(pair.p.removeprefix("x = "), pair.g)

    def refuses_unequal(pair, oracle):
        return None if pair.p == pair.g else False

    def pays(pair, oracle):
        return True

    monkeypatch.setattr(compare, "TABLE", (("look", look), ("strip_name", strip_name), ("look2", look),
                                           ("refuses_unequal", refuses_unequal), ("pays", pays)))
    assert decide("x = 3", "3", oracle=None) is True
    assert seen == [Pair("x = 3", "3"), Pair("3", "3")]  # the rewritten pair reaches the later rules
    assert decide("x = 4", "3", oracle=None) is False  # refused before the rule that pays
    monkeypatch.setattr(compare, "TABLE", (("look", look),))
    assert decide("3", "3", oracle=None) is False  # no rule decides: wrong


@pytest.mark.parametrize("rule, truth, answer", RIGHT, ids=[f"{k}:{a}" for k, _, a in RIGHT])
def test_right_examples_are_paid(rule, truth, answer):
    assert grade(answer, truth) is True


@pytest.mark.parametrize("rule, truth, answer", WRONG, ids=[f"{k}:{a}" for k, _, a in WRONG])
def test_wrong_examples_are_refused(rule, truth, answer):
    assert grade(answer, truth) is False
