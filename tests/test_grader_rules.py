"""Issue 19, the rules as one table (verl_mupo/grading/rules.py): docs/grader.md's rule table is the
table's Markdown, and every example in it is graded as labelled."""

import re
from pathlib import Path

import pytest

from verl_mupo.grading.rules import RULES, markdown
from verl_mupo.scoring import grade

DOC = Path(__file__).resolve().parents[1] / "docs" / "grader.md"
RIGHT = [(r.key, g, a) for r in RULES for g, a in r.right_examples]
WRONG = [(r.key, g, a) for r in RULES for g, a in r.wrong_examples]


def test_the_docs_rule_table_is_the_codes():
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- rules:[^\n]*-->\n(.*?)\n<!-- /rules -->", text, re.DOTALL)
    assert m, "docs/grader.md lost its generated rule table markers"
    assert m.group(1) == markdown(), "regenerate docs/grader.md's rule table from verl_mupo.grading.rules.markdown()"


def test_every_rule_has_examples_both_ways():
    assert len({r.key for r in RULES}) == len(RULES)
    for r in RULES:
        assert r.right_examples and (r.wrong_examples or r.key == "symbolic"), r.key


@pytest.mark.parametrize("rule, truth, answer", RIGHT, ids=[f"{k}:{a}" for k, _, a in RIGHT])
def test_right_examples_are_paid(rule, truth, answer):
    assert grade(answer, truth) is True


@pytest.mark.parametrize("rule, truth, answer", WRONG, ids=[f"{k}:{a}" for k, _, a in WRONG])
def test_wrong_examples_are_refused(rule, truth, answer):
    assert grade(answer, truth) is False
