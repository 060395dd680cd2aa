"""``HotRoutes`` must pick exactly what the regular routes pick, or step aside."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import BaseRoute, Match, Mount

from llmrelay.web.app import regular_routes
from llmrelay.web.hot_routes import HotRoutes
from llmrelay.web.routes import actions, gateway

HOT = HotRoutes(
    chat_completions=gateway.chat_completions, execute_connector=actions.execute_connector
)


def _regular(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """Starlette's own walk: first full match, into mounts."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            inner = {**scope, **child}
            if isinstance(route, Mount):
                return _regular(list(route.routes), inner)
            return child["endpoint"], child["path_params"]
    return None


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}}


HOT_PATHS = [
    ("/v1/chat/completions", gateway.chat_completions, {}),
    ("/s/team-a/v1/chat/completions", gateway.chat_completions, {"space_id": "team-a"}),
    ("/api/actions/connector/c1/_execute", actions.execute_connector, {"id": "c1"}),
    (
        "/s/sp%20ace/api/actions/connector/my-id/_execute",
        actions.execute_connector,
        {"space_id": "sp%20ace", "id": "my-id"},
    ),
    ("/api/actions/connector/_execute/_execute", actions.execute_connector, {"id": "_execute"}),
]
OTHER_PATHS = [
    "/v1/chat/completions/",
    "/v1/chat/completion",
    "/v1//chat/completions",
    "/s//v1/chat/completions",
    "/s/v1/chat/completions",
    "/s/a/b/v1/chat/completions",
    "/api/actions/connector//_execute",
    "/api/actions/connector/a/b/_execute",
    "/api/actions/connector/a/_execute/",
    "/api/actions/connector/_execute",
    "/api/actions/connector/c1",
    "/api/actions/connectors",
    "/v1/models",
    "/",
]


@pytest.mark.parametrize(("path", "endpoint", "params"), HOT_PATHS)
def test_hot_paths_match_like_the_regular_routes(path: str, endpoint: Any, params: dict) -> None:
    match, child = HOT.matches(_scope("POST", path))
    assert match is Match.FULL
    assert (child["endpoint"], child["path_params"]) == (endpoint, params)
    assert _regular(regular_routes(), _scope("POST", path)) == (endpoint, params)


@pytest.mark.parametrize("path", OTHER_PATHS + [p for p, _, _ in HOT_PATHS])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
def test_everything_else_goes_on_to_the_regular_routes(method: str, path: str) -> None:
    match, child = HOT.matches(_scope(method, path))
    if method == "POST" and path in [p for p, _, _ in HOT_PATHS]:
        return  # the case above
    assert match is Match.NONE and child == {}


def test_a_root_path_or_a_websocket_is_left_to_the_regular_routes() -> None:
    assert (
        HOT.matches({**_scope("POST", "/x/v1/chat/completions"), "root_path": "/x"})[0]
        is Match.NONE
    )
    assert HOT.matches({"type": "websocket", "path": "/v1/chat/completions"})[0] is Match.NONE


def test_the_space_and_path_parameters_already_in_the_scope_are_kept() -> None:
    scope = {**_scope("POST", "/v1/chat/completions"), "path_params": {"tenant": "t"}}
    assert HOT.matches(scope)[1]["path_params"] == {"tenant": "t"}
