"""``llmrelay serve``: the HTTP service (uvicorn)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
import uvicorn

from llmrelay.cli.common import ConfigOption, err_console, fail, settings_or_exit
from llmrelay.cli.local_llm import DEFAULT_PORT as LOCAL_LLM_PORT
from llmrelay.cli.local_llm import LocalModelProcess, start_local_model
from llmrelay.errors import ConfigurationError
from llmrelay.logs import configure_logging
from llmrelay.settings import Settings


def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 5601).")] = None,
    config: ConfigOption = None,
    with_local_llm: Annotated[
        bool,
        typer.Option(
            "--with-local-llm",
            help="Also run `llmrelay local-llm` (SmolLM2-135M on loopback) and a "
            "preconfigured connector to it, id 'local-llm'; stopped with the server.",
        ),
    ] = False,
    local_llm_port: Annotated[
        int, typer.Option(help="Port of the local model (with --with-local-llm).")
    ] = LOCAL_LLM_PORT,
) -> None:
    """Run the connector service: actions API, event log, usage."""
    settings = settings_or_exit(config, host=host, port=port)
    local_model: LocalModelProcess | None = None
    if with_local_llm:
        local_model, preconfigured = start_local_model(settings, local_llm_port)
    try:
        if local_model is not None:
            settings = settings_or_exit(
                config, host=host, port=port, **{"xpack.actions.preconfigured": preconfigured}
            )
        _serve(settings)
    finally:
        if local_model is not None:
            local_model.stop()


def _serve(settings: Settings) -> None:
    from llmrelay.web.app import create_app

    # LLMRELAY_LOG_FORMAT=text for human-readable lines; JSON by default (docs/settings.md)
    configure_logging(
        level=logging.INFO, json_lines=os.environ.get("LLMRELAY_LOG_FORMAT", "json") != "text"
    )

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
