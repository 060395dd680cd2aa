"""Shared CLI plumbing: settings loading and one-line errors with a non-zero exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmrelay.errors import ConfigurationError
from llmrelay.service import load_preconfigured
from llmrelay.settings import Settings, load_settings

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Settings file in kibana.yml style (default: $LLMRELAY_CONFIG).",
        exists=False,
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr; raise the returned Exit."""
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(message, markup=False, soft_wrap=True)
    return typer.Exit(code=code)


def settings_or_exit(config: Path | None, **overrides: object) -> Settings:
    """Settings, their preconfigured connectors validated too: a bad connector in the
    settings file is one line here, not a traceback from the server's start-up."""
    try:
        settings = load_settings(config, overrides=overrides)
        load_preconfigured(settings)  # the one validation the server runs
    except ConfigurationError as err:
        raise fail(str(err)) from None
    return settings
