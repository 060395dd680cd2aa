"""The admin pages: API keys and users (global, so without a space prefix). Like every
page, they are shells: ``static/admin.js`` calls ``/api/llmrelay/...`` with the session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmrelay.domain.access import ROLES
from llmrelay.web.ui.pages import session_page

_ROLES = sorted(ROLES)


async def api_keys_page(request: Request) -> Response:
    return await session_page(request, "api_keys.html", "api-keys", {"roles": _ROLES})


async def users_page(request: Request) -> Response:
    return await session_page(request, "users.html", "users", {"roles": _ROLES})


routes: list[BaseRoute] = [
    Route("/app/api-keys", api_keys_page, methods=["GET"]),
    Route("/app/users", users_page, methods=["GET"]),
]
