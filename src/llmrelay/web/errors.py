"""llmrelay errors as HTTP answers: Kibana's envelope on ``/api``, OpenAI's error shape
(``{"error": {"message", "type", "param", "code"}}``) on ``/v1``.

The status and Kibana's error name come from the error's class (``llmrelay.errors``), in
one step; this module only builds the bodies and decides what a message may show."""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from llmrelay.domain.responses import json_or_text
from llmrelay.errors import (
    DecryptionError,
    EventLogUnavailableError,
    GatewayRequestError,
    LimitExceededError,
    LimitsUnavailableError,
    LlmrelayError,
    UnauthenticatedError,
    UpstreamError,
    UpstreamStatusError,
)
from llmrelay.service import response_error_message
from llmrelay.web.json import json_response
from llmrelay.web.ui.sessions import SESSION_COOKIE

log = logging.getLogger("llmrelay.web")


def kibana_error(
    status: int, error: str, message: str, *, headers: dict[str, str] | None = None
) -> Response:
    """Kibana's envelope: ``{"statusCode", "error", "message"}``."""
    return json_response(
        {"statusCode": status, "error": error, "message": message}, status, headers=headers
    )


async def handle_llmrelay_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, LlmrelayError):
        return await handle_unexpected(request, exc)
    status = exc.http_status
    headers = None
    if status == 401 and not _browser_session(request):
        headers = {"WWW-Authenticate": 'Basic realm="llmrelay", charset="UTF-8"'}
    retry = _retry_after(exc)
    if retry is not None:
        headers = retry
    elif status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return kibana_error(status, exc.kibana_error, _shown_message(exc), headers=headers)


def _retry_after(exc: LlmrelayError) -> dict[str, str] | None:
    """``Retry-After`` of a refusal by the limits (whole seconds)."""
    if isinstance(exc, LimitExceededError | LimitsUnavailableError):
        return {"Retry-After": str(exc.retry_after)}
    return None


def _browser_session(request: Request) -> bool:
    """A web UI call: no Basic challenge, or the browser would pop up its own login box."""
    return "authorization" not in request.headers and SESSION_COOKIE in request.cookies


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error: %s %s", request.method, request.url.path)
    return kibana_error(LlmrelayError.http_status, LlmrelayError.kibana_error, _GENERIC_MESSAGE)


_GENERIC_MESSAGE = "An internal server error occurred."
_STORE_DOWN_MESSAGE = "The store is unavailable; try again shortly."


def _shown_message(exc: LlmrelayError) -> str:
    """``str(exc)`` for a caller's error (and a wrong encryption key, which the operator
    must see, and an event log that cannot record, which the caller must see); a generic
    text for other server-side failures, whose details go to the log."""
    if exc.http_status < 500 or isinstance(exc, DecryptionError | EventLogUnavailableError):
        return str(exc)
    return _STORE_DOWN_MESSAGE if exc.http_status == 503 else _GENERIC_MESSAGE


# --- OpenAI-shaped errors (the /v1 gateway) -----------------------------------------------
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
    """Any failure of a ``/v1`` request as an OpenAI error, with the status its class
    declares. Three kinds carry more than a message: the gateway's own refusals (``param``,
    ``code``), upstream failures (an HTTP error keeps the upstream's status and, when it is
    OpenAI-shaped, its error object), and a missing API key (a Bearer challenge)."""
    if not isinstance(exc, LlmrelayError):
        if isinstance(exc, ClientDisconnect):
            # the caller went away (cancelled request): nobody reads this answer
            log.info("gateway client disconnected")
            return openai_error(499, "Client closed the request.")
        log.error("unexpected gateway error", exc_info=exc)
        return openai_error(LlmrelayError.http_status, _GENERIC_MESSAGE)
    if isinstance(exc, GatewayRequestError):
        return openai_error(exc.status, str(exc), param=exc.param, code=exc.code)
    if isinstance(exc, LimitExceededError):
        return openai_error(
            exc.http_status,
            str(exc),
            "insufficient_quota" if exc.budget else "rate_limit_error",
            code="budget_exceeded" if exc.budget else "rate_limit_exceeded",
            headers=_retry_after(exc),
        )
    if isinstance(exc, LimitsUnavailableError):
        return openai_error(exc.http_status, _shown_message(exc), headers=_retry_after(exc))
    if isinstance(exc, UpstreamError):
        if isinstance(exc, UpstreamStatusError):
            return _upstream_status(exc)
        return openai_error(exc.http_status, response_error_message(exc), code=exc.code or None)
    if isinstance(exc, UnauthenticatedError):
        return openai_error(
            exc.http_status,
            f"{exc}. Send an llmrelay API key as 'Authorization: Bearer <key>'.",
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="llmrelay"'},
        )
    if exc.http_status >= 500:
        log.error("gateway request failed: %s", type(exc).__name__)
    return openai_error(exc.http_status, _shown_message(exc))


def _upstream_status(exc: UpstreamStatusError) -> Response:
    status = exc.status if 400 <= exc.status <= 599 else exc.http_status
    body = json_or_text(exc.body)
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
