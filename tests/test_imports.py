"""The import graph of llmrelay, read from the source: no cycles, and none hidden.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a cycle that
only works because one side imports late is still a cycle. An import inside a function
of another llmrelay module needs a reason in :data:`LATE_IMPORTS`; third-party ones
(optional extras such as asyncpg, llama-cpp) are not this test's business.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import llmrelay

SRC = Path(llmrelay.__file__).parent

# (importing module, imported module) -> why it imports inside a function
LATE_IMPORTS: dict[tuple[str, str], str] = {
    ("llmrelay.cli.serve", "llmrelay.web.app"): (
        "starlette and jinja2 (~0.4 s) load only for the command that serves"
    ),
    ("llmrelay.cli.worker", "llmrelay.web.app"): (
        "as in serve: llmrelay.cli.serve imports this module at every command's start"
    ),
    ("llmrelay.cli.execute", "llmrelay.testing"): (
        "the fake upstream (a test double) loads only for `llmrelay demo`"
    ),
}


def _module_name(path: Path, root: Path) -> str:
    parts = ["llmrelay", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, known: set[str]) -> Iterator[str]:
    """The llmrelay modules an import statement loads (``from pkg import submodule``
    names the submodule, ``from pkg import name`` the package)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in known)
        return
    assert node.level == 0, "llmrelay uses absolute imports only"
    module = node.module or ""
    for alias in node.names:
        submodule = f"{module}.{alias.name}"
        if submodule in known:
            yield submodule
        elif module in known:
            yield module


def _late(tree: ast.Module) -> set[int]:
    """Line numbers of the import statements inside a function body."""
    return {
        inner.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    }


def import_graph(root: Path) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Module -> the llmrelay modules it imports; and the (importer, imported) pairs
    where the import stands inside a function."""
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    late: set[tuple[str, str]] = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_functions = _late(tree)
        edges = graph.setdefault(name, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, known):
                    if target != name:
                        edges.add(target)
                        if node.lineno in in_functions:
                            late.add((name, target))
    return graph, late


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_cycle_in(sorted(group), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _cycle_in(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the group's first module back to itself, inside the group."""
    members = set(group)
    start = group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def test_no_import_cycles() -> None:
    graph, _ = import_graph(SRC)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_late_imports_have_a_reason() -> None:
    _, late = import_graph(SRC)
    unexplained = sorted(late - set(LATE_IMPORTS))
    assert not unexplained, (
        "imports of llmrelay modules inside functions (import at the top, or add the "
        "pair to LATE_IMPORTS with a reason): " + ", ".join(f"{a} -> {b}" for a, b in unexplained)
    )
    stale = sorted(set(LATE_IMPORTS) - late)
    assert not stale, f"LATE_IMPORTS lists imports that are gone: {stale}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_a_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "web/__init__.py": "",
            "web/json.py": "def read():\n    from llmrelay.web.errors import Bad\n",
            "web/errors.py": "from llmrelay.web.json import read\n",
            "errors.py": "",
        },
    )
    graph, late = import_graph(root)
    assert find_cycles(graph) == [
        ["llmrelay.web.errors", "llmrelay.web.json", "llmrelay.web.errors"]
    ]
    assert late == {("llmrelay.web.json", "llmrelay.web.errors")}


def test_type_checking_and_submodule_imports_count(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "domain/__init__.py": "",
            "domain/a.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from llmrelay.domain.b import B\n"
            ),
            "domain/b.py": "from llmrelay.domain import a\nimport asyncpg\n",
        },
    )
    graph, late = import_graph(root)
    assert graph["llmrelay.domain.a"] == {"llmrelay.domain.b"}
    assert graph["llmrelay.domain.b"] == {"llmrelay.domain.a"}
    assert len(find_cycles(graph)) == 1
    assert not late
