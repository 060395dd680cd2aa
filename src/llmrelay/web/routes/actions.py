"""Kibana's actions API (spec §5): connectors CRUD, types and ``_execute``."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.errors import DecryptionError
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.service import CONNECTOR_TYPE
from llmrelay.web.context import caller, relay_of, space_of
from llmrelay.web.errors import BadRequestError
from llmrelay.web.json import json_response, read_json
from llmrelay.web.streams import sse_response


async def _object_body(request: Request) -> Mapping[str, object]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequestError("[request body]: expected a plain object value")
    return body


async def list_connectors(request: Request) -> Response:
    await caller(request, "connectors.read")
    relay = relay_of(request)
    views = await relay.list_connectors(space_of(request))
    return json_response([{**v.to_api(), "referenced_by_count": 0} for v in views])


async def get_connector(request: Request) -> Response:
    await caller(request, "connectors.read")
    view = await relay_of(request).get_connector(space_of(request), request.path_params["id"])
    return json_response(view.to_api())


async def create_connector(request: Request) -> Response:
    await caller(request, "connectors.write")
    body = await _object_body(request)
    unknown = sorted(set(body) - {"name", "connector_type_id", "config", "secrets"})
    if unknown:
        raise BadRequestError(f"[request body.{unknown[0]}]: definition for this key is missing")
    view = await relay_of(request).create_connector(
        space_of(request), body, connector_id=request.path_params.get("id")
    )
    return json_response(view.to_api())


async def update_connector(request: Request) -> Response:
    await caller(request, "connectors.write")
    body = await _object_body(request)
    unknown = sorted(set(body) - {"name", "config", "secrets"})
    if unknown:
        raise BadRequestError(f"[request body.{unknown[0]}]: definition for this key is missing")
    keep = request.query_params.get("keep_secrets", "false")
    if keep not in ("true", "false"):
        raise BadRequestError("[keep_secrets]: expected true or false")
    view = await relay_of(request).update_connector(
        space_of(request), request.path_params["id"], body, keep_secrets=keep == "true"
    )
    return json_response(view.to_api())


async def delete_connector(request: Request) -> Response:
    await caller(request, "connectors.write")
    await relay_of(request).delete_connector(space_of(request), request.path_params["id"])
    return Response(status_code=204)


async def connector_types(request: Request) -> Response:
    await caller(request)
    feature = request.query_params.get("feature_id")
    types = [CONNECTOR_TYPE]
    if feature:
        types = [t for t in types if feature in t["supported_feature_ids"]]  # type: ignore[operator]
    enabled = relay_of(request).settings.actions.action_type_enabled(".gen-ai")
    return json_response([{**t, "enabled": enabled, "enabled_in_config": enabled} for t in types])


async def execute_connector(request: Request) -> Response:
    space = space_of(request)
    principal = await caller(request, "connectors.execute")
    body = await _object_body(request)
    if "params" not in body or not isinstance(body["params"], dict):
        raise BadRequestError("[request body.params]: expected value of type [object]")
    connector_id = request.path_params["id"]
    context = ExecutionContext(
        user_name=principal.name,
        space_id=space,
        source="http_request",
        can_read_usage=principal.can("usage.read", space),
    )
    try:
        result = await relay_of(request).execute(space, connector_id, body["params"], context)
    except DecryptionError as err:
        result = ExecutionResult(
            "error",
            connector_id,
            message=str(err),
            retry=False,
            error_source="framework",
        )
    if result.ok and isinstance(result.data, TappedStream | ChunkIterator):
        return sse_response(result.data)
    return json_response(result.to_kibana())


routes = [
    Route("/actions/connectors", list_connectors, methods=["GET"]),
    Route("/actions/connector_types", connector_types, methods=["GET"]),
    Route("/actions/connector", create_connector, methods=["POST"]),
    Route("/actions/connector/{id}/_execute", execute_connector, methods=["POST"]),
    Route("/actions/connector/{id}", get_connector, methods=["GET"]),
    Route("/actions/connector/{id}", create_connector, methods=["POST"]),
    Route("/actions/connector/{id}", update_connector, methods=["PUT"]),
    Route("/actions/connector/{id}", delete_connector, methods=["DELETE"]),
]
