"""The one mapping from llmrelay errors to HTTP answers (Kibana's envelope on /api)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

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
)
from llmrelay.service import ConnectorBadRequestError, ConnectorTypeDisabledError
from llmrelay.store.users import ApiKeyNotFoundError, UserExistsError, UserNotFoundError
from llmrelay.web.json import json_response

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
    if status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="llmrelay", charset="UTF-8"'}
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, type(exc).__name__)
    message = str(exc) if status < 500 or isinstance(exc, DecryptionError) else _generic(status)
    return kibana_error(status, message, headers=headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error: %s %s", request.method, request.url.path)
    return kibana_error(500, "An internal server error occurred.")


def _generic(status: int) -> str:
    return {503: "The store is unavailable; try again shortly."}.get(
        status, "An internal server error occurred."
    )
