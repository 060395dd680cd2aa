"""Users and API keys over HTTP (``/api/llmrelay/users``, ``/api/llmrelay/api_keys``): the
admin pages of the UI and ``llmrelay users|api-keys --url`` use them.

Users and keys are global, so these routes need the ``admin`` role in all spaces (``*``):
an admin of one space must not mint a key for every space. Secrets go one way: a password
is accepted, never returned; a new API key's credential is returned once, at creation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.domain.access import ALL_SPACES, ROLES
from llmrelay.errors import BadRequestError, ForbiddenError
from llmrelay.service import api_key_json, user_json
from llmrelay.web.context import caller, relay_of
from llmrelay.web.json import json_response, read_json

_MAX_NAME = 256
_MAX_PASSWORD = 1024
ADMIN_ONLY = "Forbidden: managing users and API keys needs the admin role in all spaces (*)"


async def _admin(request: Request) -> None:
    principal = await caller(request)
    if not principal.can("admin", ALL_SPACES):
        principal.log_denial("admin", ALL_SPACES)
        raise ForbiddenError(ADMIN_ONLY)


async def _body(request: Request) -> Mapping[str, Any]:
    body = await read_json(request)
    if not isinstance(body, Mapping):
        raise BadRequestError("[request body]: expected an object")
    return body


def _text(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"[{key}]: must be a non-empty string")
    if len(value) > limit:
        raise BadRequestError(f"[{key}]: must be at most {limit} characters")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequestError(f"[{key}]: must not contain control characters")
    return value


def _name(body: Mapping[str, Any], key: str = "name") -> str:
    name = _text(body, key, _MAX_NAME)
    if name != name.strip():
        raise BadRequestError(f"[{key}]: must not start or end with spaces")
    return name


def _list(body: Mapping[str, Any], key: str, default: list[str] | None = None) -> list[str]:
    value = body.get(key, default)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise BadRequestError(f"[{key}]: expected a non-empty list of strings")
    return [v.strip() for v in value]


def _roles(body: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    roles = _list(body, "roles")
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        known = ", ".join(sorted(ROLES))
        raise BadRequestError(f"[roles]: unknown role {', '.join(unknown)}; known: {known}")
    return roles, _list(body, "spaces", [ALL_SPACES])


async def list_users(request: Request) -> Response:
    await _admin(request)
    users = await relay_of(request).access.list_users()
    return json_response([user_json(u) for u in users])


async def create_user(request: Request) -> Response:
    await _admin(request)
    body = await _body(request)
    name = _name(body)
    password = _text(body, "password", _MAX_PASSWORD)
    roles, spaces = _roles(body)
    user = await relay_of(request).access.create_user(name, password, roles, spaces)
    return json_response(user_json(user))


async def set_roles(request: Request) -> Response:
    await _admin(request)
    body = await _body(request)
    roles, spaces = _roles(body)
    name = request.path_params["name"]
    user = await relay_of(request).access.set_user_roles(name, roles, spaces)
    return json_response(user_json(user))


async def set_password(request: Request) -> Response:
    await _admin(request)
    body = await _body(request)
    password = _text(body, "password", _MAX_PASSWORD)
    await relay_of(request).access.set_password(request.path_params["name"], password)
    return Response(status_code=204)


async def delete_user(request: Request) -> Response:
    await _admin(request)
    await relay_of(request).access.delete_user(request.path_params["name"])
    return Response(status_code=204)


async def list_keys(request: Request) -> Response:
    await _admin(request)
    keys = await relay_of(request).access.list_api_keys()
    return json_response([api_key_json(k) for k in keys])


async def create_key(request: Request) -> Response:
    await _admin(request)
    body = await _body(request)
    name = _name(body)
    owner = body.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise BadRequestError("[owner]: expected a user name")
    roles, spaces = _roles(body)
    key, encoded = await relay_of(request).access.create_api_key(
        name=name, owner=owner or None, roles=roles, spaces=spaces
    )
    return json_response({**api_key_json(key), "api_key": encoded})


async def delete_key(request: Request) -> Response:
    await _admin(request)
    await relay_of(request).access.delete_api_key(request.path_params["id"])
    return Response(status_code=204)


routes = [
    Route("/llmrelay/users", list_users, methods=["GET"]),
    Route("/llmrelay/users", create_user, methods=["POST"]),
    Route("/llmrelay/users/{name}", delete_user, methods=["DELETE"]),
    Route("/llmrelay/users/{name}/roles", set_roles, methods=["PUT"]),
    Route("/llmrelay/users/{name}/password", set_password, methods=["PUT"]),
    Route("/llmrelay/api_keys", list_keys, methods=["GET"]),
    Route("/llmrelay/api_keys", create_key, methods=["POST"]),
    Route("/llmrelay/api_keys/{id}", delete_key, methods=["DELETE"]),
]
