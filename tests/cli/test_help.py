"""Every ``--help`` screen: classic metavars (``TEXT``, ``URL``), never typer's type markers
(``<bool>`` beside a flag or ``--help``, ``<str>``, ``<int range>``, ``<path>``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmrelay.cli.main import app

runner = CliRunner()
MARKER = re.compile(r"<(?:bool|str|int|float|path|file|directory)\b[^>]*>|<int\b|\brange>")


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below ``command``, found from the app itself."""
    paths = [prefix]
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        paths += _command_paths(sub, (*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_walk_finds_every_command() -> None:
    assert ("serve",) in COMMANDS and ("connectors", "test") in COMMANDS
    assert ("users", "create") in COMMANDS and ("api-keys", "delete") in COMMANDS
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "llmrelay")
def test_help_shows_no_type_markers(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    found = MARKER.findall(result.output)
    assert not found, f"{found} in:\n{result.output}"
    help_line = next(line for line in result.output.splitlines() if "--help" in line)
    assert re.search(r"--help\s+Show this message", help_line), help_line


def test_values_keep_a_metavar_and_flags_have_none() -> None:
    shown = runner.invoke(app, ["events", "--help"], env={"COLUMNS": "120"}).output
    assert re.search(r"--relay-url\s+URL\b", shown), shown
    assert re.search(r"--space\s+-s\s+SPACE\b", shown), shown
    assert re.search(r"--limit\s+-n\s+INTEGER \[1<=x<=5000\]", shown), shown
    assert re.search(r"--json\s+Print JSON", shown), shown
    serve = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "120"}).output
    assert re.search(r"--config\s+-c\s+PATH\b", serve), serve
    assert re.search(r"--with-local-llm\s+Also run", serve), serve
    test = runner.invoke(app, ["connectors", "test", "--help"], env={"COLUMNS": "120"}).output
    assert "CONNECTOR_ID" in test and re.search(r"--stream\s+Run invokeStream", test), test
    usage = runner.invoke(app, ["usage", "--help"], env={"COLUMNS": "120"}).output
    assert "[user|connector|model|endpoint|route]" in usage, usage


def test_usage_errors_name_the_parameter() -> None:
    missing = runner.invoke(app, ["connectors", "get"])
    assert missing.exit_code == 2 and "Missing argument 'CONNECTOR_ID'" in missing.output
    flag = runner.invoke(app, ["usage", "--json=yes"])
    assert flag.exit_code == 2 and "'--json' does not take a value" in flag.output
