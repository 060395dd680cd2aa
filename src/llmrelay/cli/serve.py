"""``llmrelay serve``: the HTTP service (uvicorn), in one process or ``--workers N``.

First-start work (data directory, encryption key file, migrations, the ``admin`` user) is
done here, once, before the socket is opened; then either this process serves, or uvicorn's
supervisor spawns N workers sharing the listening socket (each builds its own app from the
same settings, see ``cli/worker.py``). Workers share nothing but the database: connector
caches stay coherent through it (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from llmrelay.cli.common import ConfigOption, err_console, fail, settings_or_exit
from llmrelay.cli.local_llm import DEFAULT_PORT as LOCAL_LLM_PORT
from llmrelay.cli.local_llm import LocalModelProcess, start_local_model
from llmrelay.cli.worker import (
    WORKER_ENV,
    configure_service_logging,
    freeze_startup_objects,
    worker_environment,
)
from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.service import first_start
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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing the port (each with its own event loop, caches "
            "and event writer; all on one database).",
        ),
    ] = 1,
) -> None:
    """Run the connector service: actions API, event log, usage."""
    overrides: dict[str, object] = {"host": host, "port": port}
    settings = settings_or_exit(config, **overrides)
    local_model: LocalModelProcess | None = None
    if with_local_llm:
        local_model, preconfigured = start_local_model(settings, local_llm_port)
    try:
        if local_model is not None:
            overrides["xpack.actions.preconfigured"] = preconfigured
            settings = settings_or_exit(config, **overrides)
        _serve(settings, workers=workers, config=config, overrides=overrides)
    finally:
        if local_model is not None:
            local_model.stop()


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound socket every worker accepts on.

    Created with ``IPPROTO_TCP`` on purpose: asyncio turns on ``TCP_NODELAY`` only for
    accepted sockets whose protocol says TCP, and uvicorn's own multi-worker socket says 0,
    so keep-alive responses would stall ~40 ms on Nagle plus delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _serve(
    settings: Settings,
    *,
    workers: int = 1,
    config: Path | None = None,
    overrides: dict[str, object] | None = None,
) -> None:
    from llmrelay.web.app import create_app  # starlette and jinja2: ~0.4 s other commands skip

    configure_service_logging()
    try:
        # data dir, encryption key, migrations and the admin user, before any worker starts
        settings, notice = asyncio.run(first_start(settings))
        app = create_app(settings) if workers == 1 else None
    except ConfigurationError as err:
        raise fail(str(err)) from None
    except StoreError as err:
        raise fail(f"cannot open the database (llmrelay.databaseUrl): {err}") from None
    if notice:
        err_console.print(f"[bold]{notice}[/bold]")
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as err:
        raise fail(f"cannot listen on {settings.host}:{settings.port}: {err.strerror}") from None
    err_console.print(
        f"llmrelay {settings.version} on http://{settings.host}:{settings.port} "
        f"(data in {settings.home}" + (f", {workers} workers)" if workers > 1 else ")")
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # configure_service_logging() routes uvicorn's loggers too
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
    }
    with sock:
        if app is not None:
            freeze_startup_objects()
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
            return
        os.environ[WORKER_ENV] = worker_environment(config, overrides or {})
        factory = uvicorn.Config(
            "llmrelay.cli.worker:create_worker_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=30,  # a worker starting on a busy host is not hung
            **options,
        )
        Multiprocess(factory, sockets=[sock]).run()
