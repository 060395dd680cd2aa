"""The ``/api/llmrelay/limits`` part of the OpenAPI document (docs/limits.md)."""

from __future__ import annotations

from typing import Any

from llmrelay.domain.limits import FIGURES, SCOPE_KINDS

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_XSRF = {"name": "kbn-xsrf", "in": "header", "required": True, "schema": {"type": "string"}}


def _figure(metric: str) -> dict[str, Any]:
    kind = "number" if metric == "cost_usd" else "integer"
    return {"type": [kind, "null"], "exclusiveMinimum": 0}


LIMIT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["name", "scope"],
    "additionalProperties": False,
    "description": "A name, exactly one scope and at least one positive figure.",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "scope": {
            "oneOf": [
                {
                    "type": "object",
                    "required": [kind],
                    "additionalProperties": False,
                    "properties": {kind: {"type": "string", "minLength": 1}},
                }
                for kind in SCOPE_KINDS
            ]
        },
        **{field: _figure(metric) for field, metric, _ in FIGURES},
    },
}

LIMIT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        **LIMIT_BODY["properties"],
        "current": {
            "type": "object",
            "description": "Use of the current UTC windows: requests_this_minute, "
            "tokens_today, cost_usd_this_month, ... (for each window the limit has).",
            "additionalProperties": {"type": "number"},
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad request", 401: "Authentication required", 403: "Not an admin"}
    words[404] = "No such limit"
    return {str(code): {"description": words[code], "content": _ERROR} for code in codes}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def limit_paths() -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Limit"}
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LimitBody"}}},
    }
    return {
        "/api/llmrelay/limits": {
            "get": {
                "summary": "The space's limits with their current use (admin)",
                "responses": {
                    "200": _ok({"type": "object", "properties": {"data": {"items": ref}}}),
                    **_errors(401, 403),
                },
            },
            "post": {
                "summary": "Create a limit (admin)",
                "parameters": [_XSRF],
                "requestBody": body,
                "responses": {"200": _ok(ref), **_errors(400, 401, 403)},
            },
        },
        "/api/llmrelay/limits/{id}": {
            "get": {
                "summary": "One limit with its current use (admin)",
                "parameters": [_ID],
                "responses": {"200": _ok(ref), **_errors(401, 403, 404)},
            },
            "put": {
                "summary": "Replace a limit (admin); counts go on unless the scope changes",
                "parameters": [_ID, _XSRF],
                "requestBody": body,
                "responses": {"200": _ok(ref), **_errors(400, 401, 403, 404)},
            },
            "delete": {
                "summary": "Delete a limit and its counts (admin)",
                "parameters": [_ID, _XSRF],
                "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404)},
            },
        },
    }
