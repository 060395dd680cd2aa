"""JSON given on the command line: inline, as ``@path``, or a file named by an option.

A bad value is one line naming the option and the place (line or column), exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmrelay.cli.remote import fail_plain


def read_json_file(path: Path, what: str) -> object:
    """The JSON value in ``path``; ``what`` names it in the error (``connector file``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise fail_plain(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise fail_plain(
            f"{what} {path} is not valid JSON: {err.msg} (line {err.lineno})"
        ) from None


def json_arg(text: str, what: str) -> object:
    """A JSON value given inline, or ``@path`` to read it from a file."""
    if text.startswith("@"):
        return read_json_file(Path(text[1:]), f"{what} file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise fail_plain(f"{what} is not valid JSON: {err.msg} (column {err.colno})") from None
