"""The architecture's layer rules, checked on the source (ARCHITECTURE.md "Layers").

Dependencies point down only, and each third-party library stays behind its one layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llmrelay

SRC = Path(llmrelay.__file__).parent

# layer -> the llmrelay layers it may import (besides itself). The adapters (web, cli) go
# through the one door, ``service``; cli also builds the web app (``serve``) and runs the
# test double for ``demo``.
ADAPTER_LAYERS = {"service", "domain", "errors", "settings", "logs", "metrics"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "tasks": set(),  # background-task start/stop, beside errors at the bottom
    "domain": {"errors"},
    "providers": {"domain", "errors"},
    "transport": {"domain", "errors"},
    "execution": {"domain", "errors", "providers", "transport", "tasks"},
    "store": {"domain", "errors", "tasks"},
    "settings": {"domain", "errors"},
    "testing": {"errors"},
    "service": {
        "domain",
        "errors",
        "execution",
        "store",
        "settings",
        "transport",
        "metrics",
    },
    "metrics": {"domain"},
    "logs": set(),
    "web": ADAPTER_LAYERS,
    "cli": ADAPTER_LAYERS | {"web", "testing"},
}

# third-party library -> the layers allowed to import it
LIBRARIES: dict[str, set[str]] = {
    "aiohttp": {"transport"},
    "sqlalchemy": {"store"},
    "aiosqlite": {"store"},
    "asyncpg": {"store"},
    "starlette": {"web", "testing"},
    "uvicorn": {"cli", "testing"},
    "typer": {"cli"},
    "rich": {"cli"},
    "jinja2": {"web"},
    "itsdangerous": {"web"},
    "pydantic_settings": {"settings"},
    "yaml": {"settings"},
    "prometheus_client": {"metrics"},
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = sorted(p for p in SRC.rglob("*.py") if _layer(p) != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_layers(path: Path) -> None:
    layer = _layer(path)
    assert layer in ALLOWED, f"{path}: unknown layer {layer!r}; add it to ALLOWED"
    problems = []
    for name in _imports(path):
        top, _, rest = name.partition(".")
        if top == "llmrelay":
            target = rest.partition(".")[0]
            if target and target != layer and target not in ALLOWED[layer]:
                problems.append(f"{layer} imports llmrelay.{target}")
        elif top in LIBRARIES and layer not in LIBRARIES[top]:
            problems.append(f"{layer} imports {top}")
    assert not problems, f"{path.relative_to(SRC)}: " + "; ".join(sorted(problems))


def test_public_api() -> None:
    for name in llmrelay.__all__:
        assert hasattr(llmrelay, name), name
    assert {"Connector", "Executor", "ActionsSettings", "ExecutionResult"} <= set(llmrelay.__all__)


def test_layer_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from llmrelay.store import open_store\nimport aiohttp\n")
    assert _imports(bad) == {"llmrelay.store", "aiohttp"}
