"""``/api/llmrelay/limits``: a space's limits, for admins only (docs/limits.md).

Every other caller gets Kibana's 403 form, ``Unauthorized to <get|create|update|delete>
limits``; a bad body a 400 naming the field; an unknown id a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.web.context import caller, relay_of, space_of
from llmrelay.web.json import json_response, read_json


def _denied(operation: str) -> str:
    return f"Unauthorized to {operation} limits"


async def list_limits(request: Request) -> Response:
    await caller(request, "admin", denied=_denied("get"))
    return json_response({"data": await relay_of(request).limits.list(space_of(request))})


async def get_limit(request: Request) -> Response:
    await caller(request, "admin", denied=_denied("get"))
    limits = relay_of(request).limits
    return json_response(await limits.get(space_of(request), request.path_params["id"]))


async def create_limit(request: Request) -> Response:
    await caller(request, "admin", denied=_denied("create"))
    body = await read_json(request)
    return json_response(await relay_of(request).limits.create(space_of(request), body))


async def update_limit(request: Request) -> Response:
    await caller(request, "admin", denied=_denied("update"))
    body = await read_json(request)
    limits = relay_of(request).limits
    return json_response(await limits.update(space_of(request), request.path_params["id"], body))


async def delete_limit(request: Request) -> Response:
    await caller(request, "admin", denied=_denied("delete"))
    await relay_of(request).limits.delete(space_of(request), request.path_params["id"])
    return Response(status_code=204)


routes = [
    Route("/llmrelay/limits", list_limits, methods=["GET"]),
    Route("/llmrelay/limits", create_limit, methods=["POST"]),
    Route("/llmrelay/limits/{id}", get_limit, methods=["GET"]),
    Route("/llmrelay/limits/{id}", update_limit, methods=["PUT"]),
    Route("/llmrelay/limits/{id}", delete_limit, methods=["DELETE"]),
]
