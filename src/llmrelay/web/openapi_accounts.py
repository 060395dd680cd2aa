"""The OpenAPI paths of llmrelay's own UI/CLI routes: users and API keys (admins of all
spaces), preconfigured connectors' settings, and the event search's extra filters."""

from __future__ import annotations

from typing import Any

from llmrelay.domain.access import ROLES

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_KEY_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_GRANTS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"role": {"type": "string"}, "space": {"type": "string"}},
    },
}
_ROLES = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": sorted(ROLES)}}
_SPACES = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
_USER = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "grants": _GRANTS, "created_at": {"type": "string"}},
}
_KEY_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "name": {"type": "string"},
    "owner": {"type": ["string", "null"]},
    "grants": _GRANTS,
    "created_at": {"type": "string"},
}
_KEY = {"type": "object", "properties": _KEY_FIELDS}

EVENT_FILTERS: list[dict[str, Any]] = [
    {
        "name": "action",
        "in": "query",
        "schema": {"type": "string", "enum": ["execute-start", "execute"]},
        "description": "Only events with this event.action (llmrelay addition).",
    },
    {
        "name": "outcome",
        "in": "query",
        "schema": {"type": "string", "enum": ["success", "failure"]},
        "description": "Only events with this event.outcome (llmrelay addition).",
    },
]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def account_paths(json: Any, errors: Any, xsrf: dict[str, Any]) -> dict[str, Any]:
    """``json(schema)`` and ``errors(*codes)`` are openapi.py's response helpers."""
    no_content = {"204": {"description": "Done"}}
    return {
        "/api/llmrelay/preconfigured_connectors": {
            "get": {
                "summary": "Settings of preconfigured connectors (never secrets or header values)",
                "responses": {
                    "200": json({"type": "array", "items": {"type": "object"}}),
                    **errors(401, 403),
                },
            }
        },
        "/api/llmrelay/users": {
            "get": {
                "summary": "Users and their grants (admin of all spaces)",
                "responses": {"200": json({"type": "array", "items": _USER}), **errors(401, 403)},
            },
            "post": {
                "summary": "Create a user",
                "parameters": [xsrf],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name", "password", "roles"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 256},
                            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "roles": _ROLES,
                            "spaces": _SPACES,
                        },
                    }
                ),
                "responses": {"200": json(_USER), **errors(400, 401, 403, 409)},
            },
        },
        "/api/llmrelay/users/{name}": {
            "delete": {
                "summary": "Delete a user and the API keys they own",
                "parameters": [_NAME, xsrf],
                "responses": {**no_content, **errors(401, 403, 404)},
            }
        },
        "/api/llmrelay/users/{name}/roles": {
            "put": {
                "summary": "Replace a user's roles and spaces",
                "parameters": [_NAME, xsrf],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["roles"],
                        "properties": {"roles": _ROLES, "spaces": _SPACES},
                    }
                ),
                "responses": {"200": json(_USER), **errors(400, 401, 403, 404)},
            }
        },
        "/api/llmrelay/users/{name}/password": {
            "put": {
                "summary": "Set a user's password",
                "parameters": [_NAME, xsrf],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["password"],
                        "properties": {"password": {"type": "string", "minLength": 1}},
                    }
                ),
                "responses": {**no_content, **errors(400, 401, 403, 404)},
            }
        },
        "/api/llmrelay/api_keys": {
            "get": {
                "summary": "API keys and their grants (never the keys themselves)",
                "responses": {"200": json({"type": "array", "items": _KEY}), **errors(401, 403)},
            },
            "post": {
                "summary": "Create an API key; the answer's api_key is shown once",
                "parameters": [xsrf],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name", "roles"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 256},
                            "owner": {"type": ["string", "null"]},
                            "roles": _ROLES,
                            "spaces": _SPACES,
                        },
                    }
                ),
                "responses": {
                    "200": json(
                        {
                            "type": "object",
                            "properties": {**_KEY_FIELDS, "api_key": {"type": "string"}},
                        }
                    ),
                    **errors(400, 401, 403, 404),
                },
            },
        },
        "/api/llmrelay/api_keys/{id}": {
            "delete": {
                "summary": "Revoke an API key",
                "parameters": [_KEY_ID, xsrf],
                "responses": {**no_content, **errors(401, 403, 404)},
            }
        },
    }
