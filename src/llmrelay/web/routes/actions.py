"""Kibana's actions API (spec §5): connectors CRUD, types and ``_execute``.

Privileges are checked before the body (Kibana checks the body first; docs/deviations.md);
a 403 says what Kibana says (``Unauthorized to create a ".gen-ai" action``), the server log
says which role is missing.
"""

from __future__ import annotations

from typing import NoReturn

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.domain.request_bodies import execute_params
from llmrelay.errors import (
    BadRequestError,
    ForbiddenError,
    LlmrelayError,
    PayloadTooLargeError,
)
from llmrelay.service import ExecutionContext, Principal, stream_of
from llmrelay.web.auth import unauthorized
from llmrelay.web.context import caller, relay_of, space_of
from llmrelay.web.json import json_response, read_json
from llmrelay.web.streams import sse_response


async def list_connectors(request: Request) -> Response:
    await caller(request, "connectors.read", denied=unauthorized("get"))
    views = await relay_of(request).connectors.list(space_of(request))
    return json_response([{**v.to_api(), "referenced_by_count": 0} for v in views])


async def get_connector(request: Request) -> Response:
    await caller(request, "connectors.read", denied=unauthorized("get"))
    view = await relay_of(request).connectors.get(space_of(request), request.path_params["id"])
    return json_response(view.to_api())


async def preconfigured_settings(request: Request) -> Response:
    """llmrelay's view of preconfigured connectors for the UI (never secrets or header
    values); those without ``exposeConfig`` only for callers who may change connectors."""
    principal = await caller(request, "connectors.read", denied=unauthorized("get"))
    writer = principal.can("connectors.write", space_of(request))
    return json_response(relay_of(request).connectors.preconfigured_settings(unexposed=writer))


async def create_connector(request: Request) -> Response:
    principal = await caller(request)
    space = space_of(request)
    unreadable: LlmrelayError | None = None
    try:
        body = await read_json(request)
    except (BadRequestError, PayloadTooLargeError) as err:  # reported after the privilege
        body, unreadable = None, err
    if not principal.can("connectors.write", space):
        # Kibana names the requested type: ``Unauthorized to create a "<type>" action``
        type_id = body.get("connector_type_id") if isinstance(body, dict) else None
        principal.log_denial("connectors.write", space)
        named = type_id if isinstance(type_id, str) and type_id.strip() else None
        raise ForbiddenError(unauthorized("create", named))
    if unreadable is not None:
        raise unreadable
    view = await relay_of(request).connectors.create(
        space, body, connector_id=request.path_params.get("id")
    )
    return json_response(view.to_api())


async def update_connector(request: Request) -> Response:
    await caller(request, "connectors.write", denied=unauthorized("update"))
    keep = request.query_params.get("keep_secrets", "false")
    if keep not in ("true", "false"):
        raise BadRequestError("[keep_secrets]: expected true or false")
    view = await relay_of(request).connectors.update(
        space_of(request),
        request.path_params["id"],
        await read_json(request),
        keep_secrets=keep == "true",
    )
    return json_response(view.to_api())


async def delete_connector(request: Request) -> Response:
    await caller(request, "connectors.write", denied=unauthorized("delete"))
    await relay_of(request).connectors.delete(space_of(request), request.path_params["id"])
    return Response(status_code=204)


async def connector_types(request: Request) -> Response:
    await caller(request)
    feature = request.query_params.get("feature_id")
    return json_response(relay_of(request).connectors.types(feature))


async def execute_connector(request: Request) -> Response:
    space = space_of(request)
    principal = await caller(request)
    if not principal.can("connectors.execute", space):
        await _deny_execute(request, principal, space)
    params = execute_params(await read_json(request))
    connector_id = request.path_params["id"]
    context = ExecutionContext(
        user_name=principal.name,
        space_id=space,
        source="http_request",
        can_read_usage=principal.can("usage.read", space),
        api_key_id=principal.api_key_id,
        api_key_name=principal.api_key_name,
    )
    result = await relay_of(request).execution.execute(space, connector_id, params, context)
    stream = stream_of(result)
    if stream is not None:
        return sse_response(stream)
    return json_response(result.to_kibana())


async def _deny_execute(request: Request, principal: Principal, space: str) -> NoReturn:
    """Kibana's 403 names the connector's type when the connector exists in the space
    (``Unauthorized to execute a ".gen-ai" action``), else ``Unauthorized to execute
    actions``."""
    principal.log_denial("connectors.execute", space)
    type_id: str | None = None
    try:
        view = await relay_of(request).connectors.get(space, request.path_params["id"])
        type_id = view.connector_type_id
    except LlmrelayError:  # not found (or the store is down): nothing to name
        pass
    raise ForbiddenError(unauthorized("execute", type_id))


routes = [
    Route("/actions/connectors", list_connectors, methods=["GET"]),
    Route("/llmrelay/preconfigured_connectors", preconfigured_settings, methods=["GET"]),
    Route("/actions/connector_types", connector_types, methods=["GET"]),
    Route("/actions/connector", create_connector, methods=["POST"]),
    Route("/actions/connector/{id}/_execute", execute_connector, methods=["POST"]),
    Route("/actions/connector/{id}", get_connector, methods=["GET"]),
    Route("/actions/connector/{id}", create_connector, methods=["POST"]),
    Route("/actions/connector/{id}", update_connector, methods=["PUT"]),
    Route("/actions/connector/{id}", delete_connector, methods=["DELETE"]),
]
