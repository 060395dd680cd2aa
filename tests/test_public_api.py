"""The package's public names: what ``from llmrelay import ...`` offers, and its version."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import llmrelay
from llmrelay.service import Relay as ServiceRelay
from llmrelay.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
_IMPORT = re.compile(r"^\s*from llmrelay import (?:\(([^)]*)\)|([^(\n]+))$", re.MULTILINE)


def _documented_names() -> set[str]:
    """Every name a ``from llmrelay import ...`` line in the README, docs/ or the package's
    docstring imports."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    texts = [page.read_text("utf-8") for page in pages] + [llmrelay.__doc__ or ""]
    names: set[str] = set()
    for match in (m for text in texts for m in _IMPORT.finditer(text)):
        listed = re.sub(r"#[^\n]*", "", match.group(1) or match.group(2))
        names.update(name.strip() for name in listed.replace("\n", ",").split(","))
    return names - {""}


def test_all_is_sorted_and_resolves() -> None:
    assert llmrelay.__all__ == sorted(llmrelay.__all__)
    assert len(set(llmrelay.__all__)) == len(llmrelay.__all__)
    for name in llmrelay.__all__:
        assert getattr(llmrelay, name, None) is not None, name


def test_the_documented_imports_are_public() -> None:
    documented = _documented_names()
    assert {"ActionsSettings", "Connector", "Executor", "Relay"} <= documented
    assert documented <= set(llmrelay.__all__)


def test_the_service_facade_is_public() -> None:
    assert {"Relay", "Settings", "load_settings"} <= set(llmrelay.__all__)
    assert llmrelay.Relay is ServiceRelay


def test_the_version_is_pyprojects(tmp_path: Path) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert llmrelay.__version__ == pyproject["project"]["version"]
    assert llmrelay.__version__ == importlib.metadata.version("llmrelay")
    assert load_settings(environ={}, overrides={"home": tmp_path}).version == llmrelay.__version__
