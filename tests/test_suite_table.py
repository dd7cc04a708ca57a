"""The README's table of end-to-end tests is the suite's own account (``benchmarks/suite_table.py``):
it names exactly the tests pytest collects as ``e2e``, and the generator reads a JUnit report right."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import suite_table  # noqa: E402


def test_the_readme_table_names_every_e2e_test_and_no_other():
    readme = (ROOT / "README.md").read_text()
    assert suite_table.table_ids(readme) == suite_table.e2e_ids()


def test_the_block_is_built_from_a_junit_report(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_x" file="tests/test_a.py" time="2.0"/>'
        '<testcase classname="tests.test_e2e_b" name="test_y" time="120.5"/>'
        '<testcase classname="tests.test_a" name="test_z" time="1.0"><failure message="no"/></testcase>'
        '<testcase classname="tests.test_a" name="test_s" time="0"><skipped message="why"/></testcase>'
        "</testsuite></testsuites>")
    cases = suite_table.read_report(report)
    assert [(c["id"], c["outcome"]) for c in cases] == [
        ("test_a.py::test_x", "passed"), ("test_e2e_b.py::test_y", "passed"), ("test_a.py::test_z", "failed"),
        ("test_a.py::test_s", "skipped")]
    text = suite_table.block(cases, {"test_e2e_b.py::test_y"})
    assert "4 tests: 2 passed, 1 failed, 0 errors, 1 skipped" in text
    assert suite_table.table_ids(text) == {"test_e2e_b.py::test_y"} and "| `test_e2e_b.py::test_y` | 120 |" in text
    newer = suite_table.block(cases, {"test_e2e_b.py::test_y", "test_e2e_c.py::test_new"})
    assert "| `test_e2e_c.py::test_new` | not in this report |" in newer
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{suite_table.START}\nold\n{suite_table.END}\nafter\n")
    suite_table.write(readme, text)
    assert readme.read_text() == f"before\n{text}\nafter\n"
