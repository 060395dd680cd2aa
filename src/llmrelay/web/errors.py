"""The one mapping from llmrelay errors to HTTP answers: Kibana's envelope on ``/api``,
OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``) on ``/v1``."""

from __future__ import annotations

import contextlib
import logging
from http import HTTPStatus

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from llmrelay.domain.request_bodies import RequestBodyError
from llmrelay.errors import (
    AuthError,
    ConfigurationError,
    ConnectorConflictError,
    ConnectorNotFoundError,
    ConnectorValidationError,
    DecryptionError,
    ForbiddenError,
    LlmrelayError,
    StoreError,
    UnauthenticatedError,
    UpstreamError,
    UpstreamForbiddenHostError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from llmrelay.service import (
    ApiKeyNotFoundError,
    ConnectorBadRequestError,
    ConnectorTypeDisabledError,
    UserExistsError,
    UserNotFoundError,
    response_error_message,
)
from llmrelay.web.json import json_response
from llmrelay.web.ui.sessions import SESSION_COOKIE

log = logging.getLogger("llmrelay.web")


class BadRequestError(LlmrelayError):
    """A malformed HTTP request (body, query, header)."""


class PayloadTooLargeError(LlmrelayError):
    pass


def kibana_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    phrase = HTTPStatus(status).phrase
    return json_response(
        {"statusCode": status, "error": phrase, "message": message}, status, headers=headers
    )


_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (ConnectorTypeDisabledError, 403),
    (ConnectorNotFoundError, 404),
    (UserNotFoundError, 404),
    (ApiKeyNotFoundError, 404),
    (ConnectorConflictError, 409),
    (UserExistsError, 409),
    (ConnectorValidationError, 400),
    (ConnectorBadRequestError, 400),
    (BadRequestError, 400),
    (RequestBodyError, 400),
    (PayloadTooLargeError, 413),
    (DecryptionError, 500),
    (StoreError, 503),
    (ConfigurationError, 500),
    (AuthError, 403),
)


def status_for(err: BaseException) -> int:
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


async def handle_llmrelay_error(request: Request, exc: Exception) -> Response:
    status = status_for(exc)
    headers = None
    if status == 401 and not _browser_session(request):
        headers = {"WWW-Authenticate": 'Basic realm="llmrelay", charset="UTF-8"'}
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, type(exc).__name__)
    message = str(exc) if status < 500 or isinstance(exc, DecryptionError) else _generic(status)
    return kibana_error(status, message, headers=headers)


def _browser_session(request: Request) -> bool:
    """A web UI call: no Basic challenge, or the browser would pop up its own login box."""
    return "authorization" not in request.headers and SESSION_COOKIE in request.cookies


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error: %s %s", request.method, request.url.path)
    return kibana_error(500, "An internal server error occurred.")


def _generic(status: int) -> str:
    return {503: "The store is unavailable; try again shortly."}.get(
        status, "An internal server error occurred."
    )


# --- OpenAI-shaped errors (the /v1 gateway) -----------------------------------------------
class GatewayRequestError(LlmrelayError):
    """A ``/v1`` request the gateway refuses itself, with OpenAI's ``param`` and ``code``."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        self.status = status
        self.param = param
        self.code = code
        super().__init__(message)


def openai_error(
    status: int,
    message: str,
    error_type: str | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error = {
        "message": message,
        "type": error_type or openai_error_type(status),
        "param": param,
        "code": code,
    }
    return json_response({"error": error}, status, headers=headers)


def openai_error_type(status: int) -> str:
    """OpenAI's ``type`` for a status (what its API answers; SDKs key on the status)."""
    if status == 401:
        return "invalid_request_error"
    if status == 429:
        return "requests"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error_for(exc: BaseException) -> Response:
    """Any failure of a ``/v1`` request as an OpenAI error; upstream HTTP errors keep the
    upstream's status (so SDKs raise their usual classes) and, when it is OpenAI-shaped,
    its error object."""
    if isinstance(exc, GatewayRequestError):
        return openai_error(exc.status, str(exc), param=exc.param, code=exc.code)
    if isinstance(exc, UpstreamStatusError):
        return _upstream_status(exc)
    if isinstance(exc, UpstreamError):
        status = 504 if isinstance(exc, UpstreamTimeoutError) else 502
        if isinstance(exc, UpstreamForbiddenHostError):
            status = 403
        return openai_error(status, response_error_message(exc), code=exc.code or None)
    if isinstance(exc, UnauthenticatedError):
        return openai_error(
            401,
            f"{exc}. Send an llmrelay API key as 'Authorization: Bearer <key>'.",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="llmrelay"'},
        )
    if isinstance(exc, LlmrelayError):
        status = status_for(exc)
        if status >= 500:
            log.error("gateway request failed: %s", type(exc).__name__)
        message = str(exc) if status < 500 or isinstance(exc, DecryptionError) else _generic(status)
        return openai_error(status, message)
    if isinstance(exc, ClientDisconnect):
        # the caller went away (cancelled request): nobody reads this answer
        log.info("gateway client disconnected")
        return openai_error(499, "Client closed the request.")
    log.error("unexpected gateway error", exc_info=exc)
    return openai_error(500, "An internal server error occurred.")


def _upstream_status(exc: UpstreamStatusError) -> Response:
    status = exc.status if 400 <= exc.status <= 599 else 502
    body = exc.body
    if isinstance(body, bytes | bytearray | str):
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(body)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(body, dict) and error is None and body.get("object") == "error":
        error = {k: v for k, v in body.items() if k != "object"}  # vLLM before 0.10.1: flat
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        error_type = error.get("type")
        if not isinstance(error_type, str) or not error_type:
            error_type = openai_error_type(status)
        shaped: dict[str, object] = {
            "message": error["message"],
            "type": error_type,
            "param": _string_or_null(error.get("param")),
            "code": _string_or_null(error.get("code")),
        }
        shaped.update((k, v) for k, v in error.items() if k not in shaped)
        return json_response({"error": shaped}, status)
    if isinstance(error, str) and error:  # LM Studio: {"error": "<message>"}
        return openai_error(status, error)
    message = response_error_message(exc)
    if isinstance(body, str) and body.strip():  # a plain-text answer says what happened
        message = f"{message} - {body.strip()[:_MAX_TEXT_DETAIL]}"
    return openai_error(status, message)


_MAX_TEXT_DETAIL = 500


def _string_or_null(value: object) -> str | None:
    """OpenAI's ``param`` and ``code`` are a string or null; llama.cpp and vLLM send the
    HTTP status as an integer ``code`` (``500``), which typed clients refuse: it becomes
    ``"500"``. Other non-strings (objects, booleans) become null."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
