"""Help screens with classic metavars instead of typer's type markers.

Newer typer prints a type column beside every parameter: ``<bool>`` for flags (``--help``
included), ``<str>``, ``<int range>``, ``<path>``. To a reader of ``--help`` those look like
values to type. llmrelay shows what click always showed: nothing for a flag, a word in
capitals for a value (``TEXT``, ``INTEGER``, ``PATH``; ``URL`` and the like where an
option names its own metavar), ``[a|b|c]`` for a choice, and an argument by its name in
capitals. One place does it for every command, :class:`HelpGroup` at the root, so a new
command cannot bring the markers back (tests/cli/test_help.py checks every screen).

Typer versions without the type column have no ``display_type``: nothing is changed there.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperGroup

_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "FLOAT",
    "bool": "BOOLEAN",
    "int range": "INTEGER",
    "float range": "FLOAT",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIRECTORY",
}
_MARKER = re.compile(r"^<(.*)>$")


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone: no type column beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _metavar(param: Any, ctx: Any) -> str | None:
    """The classic metavar for ``param``, or None to leave it as it is."""
    if param.metavar is not None or not hasattr(param, "display_type"):
        return None
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if isinstance(param, TyperArgument):
        return str(param.name or "value").upper()
    marker = _MARKER.match(str(param.display_type(ctx)))
    if marker is None:
        return None
    label = marker.group(1)
    if "|" in label:
        return f"[{label}]"
    return _WORDS.get(label, label.upper())


def tidy_param(param: Any, ctx: Any) -> None:
    metavar = _metavar(param, ctx)
    if metavar is not None:
        param.metavar = metavar
    if type(param) is TyperArgument and hasattr(param, "display_type"):
        param.__class__ = _NamedArgument


def tidy_command(command: Any, ctx: Any) -> None:
    """Every parameter of ``command`` (its ``--help`` too) and of its subcommands."""
    for param in command.get_params(ctx):
        tidy_param(param, ctx)
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_command(sub, ctx)


class HelpGroup(TyperGroup):
    """The root group: tidies itself and each command it hands out (help, usage errors)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        for param in params:
            tidy_param(param, ctx)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            tidy_command(command, ctx)
        return command
