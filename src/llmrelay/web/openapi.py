"""The OpenAPI 3.1 document of llmrelay's HTTP API, served at ``/api/openapi.json``.

Request bodies come from the domain's pydantic models (:mod:`llmrelay.web.openapi_schemas`).
Paths and responses are written here: the routes are plain Starlette handlers (no
per-request validation framework on the hot path) whose Kibana-style body checks are not
pydantic models, and ``/v1`` takes OpenAI's open-ended bodies. Tests check every route is
covered.
"""

from __future__ import annotations

from typing import Any

from llmrelay.service import ENDPOINTS, GROUPS, INTERVALS
from llmrelay.web.openapi_accounts import EVENT_FILTERS, account_paths
from llmrelay.web.openapi_limits import LIMIT, LIMIT_BODY, limit_paths
from llmrelay.web.openapi_schemas import component_schemas


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": {
                400: "Bad request",
                401: "Authentication required",
                403: "Missing privilege",
                404: "Not found",
                409: "Conflict",
                413: "Payload too large",
            }[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_XSRF = {"name": "kbn-xsrf", "in": "header", "required": True, "schema": {"type": "string"}}
_CONN_REF = {"$ref": "#/components/schemas/Connector"}


def _paths() -> dict[str, Any]:
    create = {
        "summary": "Create a connector",
        "parameters": [_XSRF],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ConnectorCreate"}}
            },
        },
        "responses": {"200": _json(_CONN_REF), **_errors(400, 401, 403, 409, 413)},
    }
    return {
        "/api/actions/connector": {"post": create},
        "/api/actions/connector/{id}": {
            "get": {
                "summary": "Get a connector",
                "parameters": [_ID],
                "responses": {"200": _json(_CONN_REF), **_errors(401, 403, 404)},
            },
            "post": {
                **create,
                "summary": "Create a connector with this id",
                "parameters": [_ID, _XSRF],
            },
            "put": {
                "summary": "Update a connector",
                "parameters": [_ID, _XSRF],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ConnectorUpdate"}
                        }
                    },
                },
                "responses": {"200": _json(_CONN_REF), **_errors(400, 401, 403, 404, 413)},
            },
            "delete": {
                "summary": "Delete a connector",
                "parameters": [_ID, _XSRF],
                "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 403, 404)},
            },
        },
        "/api/actions/connectors": {
            "get": {
                "summary": "List connectors (sorted by name)",
                "responses": {
                    "200": _json({"type": "array", "items": _CONN_REF}),
                    **_errors(401, 403),
                },
            }
        },
        "/api/actions/connector/{id}/_execute": {
            "post": {
                "summary": "Execute a connector; streaming sub-actions answer text/event-stream",
                "parameters": [_ID, _XSRF],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ExecuteBody"}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "Execution result (success or connector failure)",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ExecuteResult"}
                            },
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(400, 401, 403, 404, 413),
                },
            }
        },
        "/api/actions/connector_types": {
            "get": {
                "summary": "Connector types",
                "parameters": [{"name": "feature_id", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": _json({"type": "array", "items": {"type": "object"}}),
                    **_errors(401),
                },
            }
        },
        "/api/event_log/connector/{id}/_find": {
            "get": {
                "summary": "Execution events of a connector, newest first",
                "parameters": [
                    _ID,
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
                    },
                    {"name": "start", "in": "query", "schema": {"type": "string"}},
                    {"name": "end", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "total": {"type": "integer"},
                                "data": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/llmrelay/usage": {
            "get": {
                "summary": "Token usage and cost sums per time bucket (from rollups)",
                "parameters": [
                    {"name": "start", "in": "query", "schema": {"type": "string"}},
                    {"name": "end", "in": "query", "schema": {"type": "string"}},
                    {"name": "connector_id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "endpoint",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(ENDPOINTS)},
                    },
                    {
                        "name": "group_by",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(GROUPS)},
                    },
                    {
                        "name": "interval",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(INTERVALS)},
                    },
                ],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/UsageReport"}),
                    **_errors(400, 401, 403),
                },
            }
        },
    }


def _operability_and_gateway() -> dict[str, Any]:
    # OpenAI's own body: open-ended, forwarded after the connector's rules (no model here)
    model = {"type": "string", "description": "<connector id> or <connector id>/<model>"}
    chat = {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": model,
            "messages": {"type": "array", "items": {"type": "object"}},
            "stream": {"type": "boolean"},
        },
        "additionalProperties": True,
    }
    embed = {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": model,
            "input": {
                "description": "a string, a list of strings, or token arrays",
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "array", "items": {"type": "integer"}},
                    {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                ],
            },
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
            "dimensions": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": True,
    }
    complete = {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": model,
            "prompt": {"description": "a string, a list of strings, or token arrays"},
            "stream": {"type": "boolean"},
        },
        "additionalProperties": True,
    }
    respond = {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": model,
            "input": {"description": "a string, or a list of input items (messages)"},
            "instructions": {"type": "string"},
            "stream": {"type": "boolean"},
        },
        "additionalProperties": True,
    }
    openai_error = {
        "description": "OpenAI-shaped error",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]

    def gateway_post(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "summary": summary,
            "security": bearer,
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {
                    "description": "The upstream's answer (JSON or text/event-stream)",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **{code: openai_error for code in ("400", "401", "403", "404", "429", "502")},
            },
        }

    return {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"})},
            }
        },
        "/api/status": {
            "get": {
                "summary": "Service status (overall level only without credentials)",
                "security": [],
                "responses": {"200": _json({"type": "object"}), "503": _json({"type": "object"})},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {"description": "text exposition format", "content": {"text/plain": {}}}
                },
            }
        },
        "/v1/chat/completions": {
            "post": gateway_post("OpenAI-compatible chat completions through a connector", chat)
        },
        "/v1/embeddings": {
            "post": gateway_post("OpenAI-compatible embeddings through a connector", embed)
        },
        "/v1/responses": {
            "post": gateway_post(
                "OpenAI Responses API through a connector (Other: maybe translated to chat)",
                respond,
            )
        },
        "/v1/completions": {
            "post": gateway_post("Legacy OpenAI completions through a connector", complete)
        },
        "/v1/models": {
            "get": {
                "summary": "Connectors the key may execute, as OpenAI models",
                "security": bearer,
                "responses": {"200": _json({"type": "object"}), "401": openai_error},
            }
        },
        "/v1/models/{model}": {
            "get": {
                "summary": "One connector as an OpenAI model",
                "security": bearer,
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json({"type": "object"}), "404": openai_error},
            }
        },
    }


def _in_space(paths: dict[str, Any]) -> dict[str, Any]:
    """The same operations under ``/s/{space_id}`` (Kibana's space prefix)."""
    space = {"name": "space_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/s/{space_id}" + path: {
            method: {**op, "parameters": [space, *op.get("parameters", [])]}
            for method, op in ops.items()
        }
        for path, ops in paths.items()
    }


def openapi_document(version: str) -> dict[str, Any]:
    paths = {**_paths(), **limit_paths()}
    keep = {
        "name": "keep_secrets",
        "in": "query",
        "schema": {"type": "boolean"},
        "description": "Keep stored secrets that the body leaves empty (llmrelay addition).",
    }
    paths["/api/actions/connector/{id}"]["put"]["parameters"].append(keep)
    paths["/api/event_log/connector/{id}/_find"]["get"]["parameters"].extend(EVENT_FILTERS)
    paths.update(account_paths(_json, _errors, _XSRF))
    extra = _operability_and_gateway()
    gateway = {path: ops for path, ops in extra.items() if path.startswith("/v1")}
    spaced = _in_space({**paths, **gateway})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llmrelay",
            "version": version,
            "description": "Kibana-compatible actions API for OpenAI connectors, event log, usage.",
        },
        "components": {
            "schemas": {**component_schemas(), "Limit": LIMIT, "LimitBody": LIMIT_BODY},
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"basic": []}, {"apiKey": []}],
        "paths": {**paths, **spaced, **extra},
    }
