"""``llmrelay serve``: the HTTP service (uvicorn)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from llmrelay.cli.common import ConfigOption, err_console, fail, settings_or_exit
from llmrelay.errors import ConfigurationError


def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 5601).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the connector service: actions API, event log, usage."""
    from llmrelay.web.app import create_app

    settings = settings_or_exit(config, host=host, port=port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    def first_start(notice: str) -> None:
        err_console.print(f"[bold]{notice}[/bold]")

    try:
        app = create_app(settings, on_first_start=first_start)
    except ConfigurationError as err:
        raise fail(str(err)) from None
    err_console.print(
        f"llmrelay {settings.version} on http://{settings.host}:{settings.port} "
        f"(data in {settings.home})"
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
