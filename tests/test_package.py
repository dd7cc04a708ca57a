"""The package's shape: no import cycle between its modules, and the grader importable without
torch (verl's reward workers import ``verl_mupo.scoring`` in every process)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import verl_mupo

PACKAGE = Path(verl_mupo.__file__).parent


def _import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its body (functions included)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[module].update(t for t in targets if t in modules and t != module)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_cycle_between_the_packages_modules():
    graph = _import_graph()
    assert "verl_mupo.glue.legacy_hook" in graph and "verl_mupo.glue.group_step" in graph["verl_mupo.glue.trainer_hook"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_grader_imports_without_torch():
    code = "import sys, verl_mupo.scoring; print(sorted(m for m in ('torch', 'verl', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_public_api_resolves_lazily():
    for name in verl_mupo.__all__:
        assert getattr(verl_mupo, name).__name__ == name
    assert sorted(verl_mupo.__all__) == sorted(verl_mupo._EXPORTS)
