"""The ASGI application: ``create_app(settings)``; settings are read by the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from llmrelay.errors import LlmrelayError
from llmrelay.service import FirstStart, Relay, ensure_admin, prepare_home
from llmrelay.settings import Settings
from llmrelay.web import ui
from llmrelay.web.errors import handle_llmrelay_error, handle_unexpected
from llmrelay.web.hot_routes import HotRoutes
from llmrelay.web.json import json_response
from llmrelay.web.openapi import openapi_document
from llmrelay.web.routes import accounts, actions, gateway, limits, status, usage

log = logging.getLogger("llmrelay.web")


async def _openapi(request: Request) -> Response:
    return json_response(openapi_document(request.app.state.settings.version))


def regular_routes() -> list[BaseRoute]:
    """Every route; ``HotRoutes`` goes before them for the two hot paths."""
    api = [*actions.routes, *usage.routes, *limits.routes, *accounts.routes]
    return [
        Route("/api/openapi.json", _openapi, methods=["GET"]),
        *status.routes,
        Mount("/api", routes=api),
        Mount("/s/{space_id}/api", routes=api),
        Mount("/v1", routes=gateway.routes),
        Mount("/s/{space_id}/v1", routes=gateway.routes),
        *ui.routes,
    ]


def create_app(
    settings: Settings, *, on_first_start: Callable[[str], None] | None = None
) -> Starlette:
    """Build the app; the lifespan opens the store, event writer and executor."""
    settings, key_file = prepare_home(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Relay.open(settings) as relay:
            password, password_file = await ensure_admin(relay.access, settings)
            notice = FirstStart(key_file, password, password_file).message()
            if notice and on_first_start is not None:
                on_first_start(notice)
            app.state.relay = relay
            app.state.auth = relay.access  # read by every request: one attribute away
            yield

    app = Starlette(
        routes=[
            HotRoutes(
                chat_completions=gateway.chat_completions,
                execute_connector=actions.execute_connector,
            ),
            *regular_routes(),
        ],
        lifespan=lifespan,
        exception_handlers={LlmrelayError: handle_llmrelay_error, Exception: handle_unexpected},
    )
    app.state.settings = settings
    return app
