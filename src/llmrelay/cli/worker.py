"""The app each worker process of ``llmrelay serve --workers N`` builds for itself.

uvicorn starts workers as fresh interpreters (``spawn``) and imports the app by name, so
nothing built in the parent can be handed over: each worker reads the settings again from
the same places (environment, settings file) plus the command line's flags, which the
parent passes in one environment variable. First-start work (the encryption key file, the
``admin`` user, migrations) was already done once by the parent before any worker started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import orjson

from llmrelay.settings import load_settings

WORKER_ENV = "LLMRELAY_SERVE_WORKER"
"""JSON ``{"config": path | null, "overrides": {...}}`` from the parent to its workers."""


def worker_environment(config: Path | None, overrides: Mapping[str, object]) -> str:
    """The value of :data:`WORKER_ENV` for these command-line settings."""
    given = {name: value for name, value in overrides.items() if value is not None}
    return orjson.dumps(
        {"config": None if config is None else str(config.absolute()), "overrides": given}
    ).decode()


def create_worker_app() -> object:
    """uvicorn's app factory (``llmrelay.cli.worker:create_worker_app``)."""
    from llmrelay.cli.serve import configure_service_logging, freeze_startup_objects
    from llmrelay.web.app import create_app

    configure_service_logging()
    passed = orjson.loads(os.environ.get(WORKER_ENV) or "{}")
    config = passed.get("config")
    settings = load_settings(
        Path(config) if config else None, overrides=passed.get("overrides") or {}
    )
    app = create_app(settings)
    freeze_startup_objects()
    return app
