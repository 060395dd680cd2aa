"""The two endpoints every model call takes, matched ahead of the regular routes.

``POST /v1/chat/completions`` and ``POST /api/actions/connector/{id}/_execute`` (both also
under ``/s/{space_id}``) are found by slicing the path instead of trying each route's
regular expression in turn, mounts included: that walk was ~4% of the gateway's CPU per
request. Matching here is one route in Starlette's list, so middleware, exception handlers
and the endpoints are exactly those of the regular routes; any path or method this does
not recognise goes on to them and gets the answer it always got (405, redirects, 404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]

_CHAT = "/v1/chat/completions"
_EXECUTE_PREFIX, _EXECUTE_SUFFIX = "/api/actions/connector/", "/_execute"
_APP = "llmrelay.hot_route_app"  # scope key: the matched endpoint's ASGI app, for handle()


class HotRoutes(BaseRoute):
    """Matches only the hot paths, with the path parameters the regular routes would give."""

    def __init__(self, *, chat_completions: Endpoint, execute_connector: Endpoint) -> None:
        self._chat = (chat_completions, request_response(chat_completions))
        self._execute = (execute_connector, request_response(execute_connector))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return Match.NONE, {}
        found = self._find(scope["path"])
        if found is None:
            return Match.NONE, {}
        (endpoint, app), params = found
        path_params = dict(scope.get("path_params", {}))
        path_params.update(params)
        return Match.FULL, {"endpoint": endpoint, "path_params": path_params, _APP: app}

    def _find(self, path: str) -> tuple[tuple[Endpoint, ASGIApp], dict[str, str]] | None:
        params: dict[str, str] = {}
        if path.startswith("/s/"):  # /s/{space_id}/...: a space is one non-empty segment
            space, slash, rest = path[3:].partition("/")
            if not space or not slash:
                return None
            params["space_id"] = space
            path = "/" + rest
        if path == _CHAT:
            return self._chat, params
        if path.startswith(_EXECUTE_PREFIX) and path.endswith(_EXECUTE_SUFFIX):
            connector_id = path[len(_EXECUTE_PREFIX) : -len(_EXECUTE_SUFFIX)]
            if connector_id and "/" not in connector_id:
                params["id"] = connector_id
                return self._execute, params
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_APP](scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the regular routes build URLs
