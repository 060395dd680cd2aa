"""OpenAI-compatible ``/v1`` gateway: ``POST /chat/completions``, ``/embeddings``,
``/responses`` and ``/completions`` (legacy), ``GET /models``.

``model`` names the connector (``<id>`` or ``<id>/<model name>``); the caller is an
llmrelay API key sent as ``Authorization: Bearer <key>`` (or ``ApiKey <key>``). Every
call runs through :meth:`ExecutionService.chat_completions` (or ``.endpoint``), so the
networking stack, usage and events are those of ``_execute``. Errors always come back
in OpenAI's shape.

Credentials are read from the ``Authorization`` header only (never a cookie), so no
``kbn-xsrf`` header is required here, as no browser can send one cross-site.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmrelay.domain.events import Endpoint
from llmrelay.errors import ConnectorNotFoundError, GatewayRequestError, UpstreamStatusError
from llmrelay.service import (
    GATEWAY_SOURCE,
    REQUEST_ID_HEADERS,
    AccessService,
    ConnectorView,
    ExecutionContext,
    GatewayResult,
    Principal,
)
from llmrelay.web.context import relay_of, space_of
from llmrelay.web.errors import openai_error_for
from llmrelay.web.json import json_response, read_json
from llmrelay.web.streams import sse_response

_OWNER = "llmrelay"

_FORWARDED = tuple(
    (name, name.encode())
    for name in (
        *REQUEST_ID_HEADERS,
        "openai-processing-ms",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    )
)
"""Upstream response headers the caller gets too: SDKs read them (the openai SDK waits
``retry-after(-ms)``, obeys ``x-should-retry``, exposes ``x-request-id``). A fixed list
looked up by name: ~0.7 µs a request, against ~3 µs to scan every header for a prefix."""


def _forward_headers(response: Response, upstream: Mapping[str, str]) -> Response:
    """Add the :data:`_FORWARDED` headers the upstream sent to ``response``."""
    raw = response.raw_headers
    for name, encoded in _FORWARDED:
        value = upstream.get(name)
        if value is not None:  # aiohttp decodes utf-8/surrogateescape: the original bytes
            raw.append((encoded, value.encode("utf-8", "surrogateescape")))
    return response


def _error_response(err: Exception) -> Response:
    """``err`` in OpenAI's shape; an upstream's HTTP error keeps its forwarded headers."""
    response = openai_error_for(err)
    if isinstance(err, UpstreamStatusError):
        _forward_headers(response, err.headers)
    return response


async def _principal(request: Request) -> Principal:
    auth: AccessService = request.app.state.auth
    return await auth.authenticate(request.headers.get("authorization"))


def _require_execute(principal: Principal, space: str) -> None:
    """Kibana's text for a refused execution; who lacked which role goes to the log."""
    if not principal.can("connectors.execute", space):
        principal.log_denial("connectors.execute", space)
        raise GatewayRequestError(
            403, "Unauthorized to execute actions", code="insufficient_permissions"
        )


def _model_not_found(model: str) -> GatewayRequestError:
    return GatewayRequestError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _body_and_model(body: object) -> tuple[dict[str, object], str]:
    """A gateway body and its ``model``, refused in OpenAI's shape when unusable."""
    if not isinstance(body, dict):
        raise GatewayRequestError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise GatewayRequestError(
            400,
            "You must provide a model parameter: a connector id, or <connector id>/<model name>.",
            param="model",
        )
    return body, model


def _context(principal: Principal, space: str) -> ExecutionContext:
    return ExecutionContext(
        user_name=principal.name,
        space_id=space,
        source=GATEWAY_SOURCE,
        can_read_usage=principal.can("usage.read", space),
        api_key_id=principal.api_key_id,
        api_key_name=principal.api_key_name,
    )


def _answer(result: GatewayResult) -> Response:
    """The upstream's answer as it came (JSON or SSE), with the forwarded headers."""
    if result.stream is not None:
        return _forward_headers(sse_response(result.stream), result.headers)
    response = Response(result.body, status_code=result.status, media_type="application/json")
    return _forward_headers(response, result.headers)


async def chat_completions(request: Request) -> Response:
    try:
        principal = await _principal(request)
        space = space_of(request)
        body, model = _body_and_model(await read_json(request))
        _require_execute(principal, space)
        context = _context(principal, space)
        try:
            result = await relay_of(request).execution.chat_completions(space, body, model, context)
        except ConnectorNotFoundError:
            raise _model_not_found(model) from None
    except Exception as err:  # every failure answers in OpenAI's shape
        return _error_response(err)
    return _answer(result)


async def _endpoint(request: Request, endpoint: Endpoint) -> Response:
    """``/v1/embeddings``, ``/v1/completions``, ``/v1/responses``: the same door as chat
    (regular routes)."""
    try:
        principal = await _principal(request)
        space = space_of(request)
        body, model = _body_and_model(await read_json(request))
        _require_execute(principal, space)
        context = _context(principal, space)
        execution = relay_of(request).execution
        try:
            result = await execution.endpoint(space, endpoint, body, model, context)
        except ConnectorNotFoundError:
            raise _model_not_found(model) from None
    except Exception as err:
        return _error_response(err)
    return _answer(result)


async def embeddings(request: Request) -> Response:
    return await _endpoint(request, "embeddings")


async def completions(request: Request) -> Response:
    return await _endpoint(request, "completions")


async def responses(request: Request) -> Response:
    return await _endpoint(request, "responses")


def _model_entry(view: ConnectorView) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": view.id,
        "object": "model",
        "created": 0,
        "owned_by": _OWNER,
        "name": view.name,
    }
    config = view.config or {}
    if isinstance(config.get("defaultModel"), str):
        entry["default_model"] = config["defaultModel"]
    if isinstance(config.get("apiProvider"), str):
        entry["api_provider"] = config["apiProvider"]
    return entry


async def list_models(request: Request) -> Response:
    """The connectors the caller may execute in this space, as OpenAI models."""
    try:
        principal = await _principal(request)
        space = space_of(request)
        _require_execute(principal, space)
        views = await relay_of(request).connectors.list(space)
    except Exception as err:
        return openai_error_for(err)
    return json_response({"object": "list", "data": [_model_entry(v) for v in views]})


async def get_model(request: Request) -> Response:
    model = request.path_params["model"]
    try:
        principal = await _principal(request)
        space = space_of(request)
        _require_execute(principal, space)
        try:
            view = await relay_of(request).execution.model(space, model)
        except ConnectorNotFoundError:
            raise _model_not_found(model) from None
    except Exception as err:
        return openai_error_for(err)
    return json_response({**_model_entry(view), "id": model})


async def not_found(request: Request) -> Response:
    message = f"Invalid URL ({request.method} {request.url.path})"
    return openai_error_for(GatewayRequestError(404, message))


routes: list[BaseRoute] = [
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/embeddings", embeddings, methods=["POST"]),
    Route("/completions", completions, methods=["POST"]),
    Route("/responses", responses, methods=["POST"]),
    Route("/models", list_models, methods=["GET"]),
    Route("/models/{model:path}", get_model, methods=["GET"]),
    Route(
        "/{path:path}",
        not_found,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    ),
]
