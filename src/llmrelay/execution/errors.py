"""Failures turned into Kibana's messages and envelopes (spec §1.5, §2.10, §4.2, §6.3).

The executor's convention: sub-action handlers and the calls they make raise typed
``llmrelay.errors`` exceptions; :func:`failure_result` is the one place one becomes the
``_execute`` envelope. Every text here is built from the error alone (status, reason,
upstream body, Node-like code): never from request headers or bodies, so no secret can
leak into a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from llmrelay.domain.responses import json_or_text, reason_phrase
from llmrelay.errors import (
    ActionTypeDisabledError,
    ConnectorValidationError,
    LlmrelayError,
    SubActionParamsError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamForbiddenHostError,
    UpstreamProtocolError,
    UpstreamProxyError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamTLSError,
)
from llmrelay.execution.results import ErrorSource, ExecutionResult

EXECUTION_FAILED = "an error occurred while running the action"

_AZURE_FUNCTIONS_ERROR = "404 Unrecognized request argument supplied: functions"
# Kibana's template literal, indentation and all.
_AZURE_FUNCTIONS_NOTE = (
    "\n        \n\nFunction support with Azure OpenAI API was added in 2023-07-01-preview."
    " Update the API version of the Azure OpenAI connector in use\n      "
)


def _reason_phrase(err: UpstreamStatusError) -> str:
    """The response's reason phrase; HTTP/2 has none, so fall back to the standard one."""
    return err.reason or reason_phrase(err.status)


def _detail(body: object) -> str | None:
    """``body.error.message``, or ``body.error`` when that is a string (LM Studio)."""
    parsed = json_or_text(body)  # JSON text when it arrived in a stream
    if not isinstance(parsed, dict):
        return None
    error = parsed.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str):
            return message or None
        return None if message is None else orjson.dumps(message).decode()
    if isinstance(error, str):
        return error or None
    return None


def _sdk_message(err: UpstreamError) -> str:
    """The message the OpenAI SDK would give: ``<status> <detail>`` for status errors."""
    if isinstance(err, UpstreamStatusError):
        detail = _detail(err.body)
        if detail:
            return f"{err.status} {detail}"
    return str(err)


def response_error_message(err: UpstreamError) -> str:
    """Kibana's ``getResponseErrorMessage`` (spec §2.10 rules 1-5)."""
    if str(err) == _AZURE_FUNCTIONS_ERROR or _sdk_message(err) == _AZURE_FUNCTIONS_ERROR:
        return f"API Error: {_AZURE_FUNCTIONS_ERROR}{_AZURE_FUNCTIONS_NOTE}"
    if not isinstance(err, UpstreamStatusError) or not err.status:
        return f"Unexpected API Error: {err.code or ''} - {str(err) or 'Unknown error'}"
    detail = _detail(err.body)
    suffix = f" - {detail}" if detail else ""
    if err.status == 401:
        return f"Unauthorized API Error{suffix}"
    return f"API Error: {_reason_phrase(err)}{suffix}"


def framework_error_message(err: UpstreamError) -> str:
    """The sub-action framework's wrapper: ``Status code: <n|undefined>. Message: ...``."""
    status = err.status if isinstance(err, UpstreamStatusError) and err.status else "undefined"
    return f"Status code: {status}. Message: {response_error_message(err)}"


def pki_rewrite(message: str) -> str:
    """Spell out TLS failures of PKI (client certificate) connectors (spec §1.5)."""
    if "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in message:
        return (
            f"Certificate error: {message}. Please check if your PKI certificates are valid"
            " or adjust SSL verification mode."
        )
    if "ERR_TLS_CERT_ALTNAME_INVALID" in message or "ERR_TLS_HANDSHAKE" in message:
        return (
            f"TLS handshake failed: {message}. Verify server certificate hostname and CA"
            " configuration."
        )
    return message


@dataclass(frozen=True, slots=True)
class ErrorRules:
    """How a sub-action reports an upstream failure (its table entry's "error source"):
    with the sub-action framework's wrapper (``Status code: ...``), or, for the OpenAI SDK
    path (``sdk``), with the SDK's own message and a 429 counted as the user's (spec §6.3)."""

    sdk: bool

    def message(self, err: UpstreamError) -> str:
        return response_error_message(err) if self.sdk else framework_error_message(err)

    def source(self, err: UpstreamError) -> ErrorSource:
        if self.sdk and isinstance(err, UpstreamStatusError) and err.status == 429:
            return "user"
        return "framework"


FRAMEWORK_ERRORS = ErrorRules(sdk=False)
SDK_ERRORS = ErrorRules(sdk=True)


def failure_result(
    connector_id: str, err: LlmrelayError, rules: ErrorRules, *, pki: bool
) -> ExecutionResult:
    """The ``_execute`` envelope of a failed execution: the one place errors become one.

    Refusals before the call (a bad envelope, a disabled type) carry their message with
    ``retry: false``; everything after is ``an error occurred while running the action``
    with the detail as ``service_message`` and ``retry: true``.
    """
    if isinstance(err, UpstreamError):
        message = rules.message(err)
        return ExecutionResult(
            "error",
            connector_id,
            message=EXECUTION_FAILED,
            service_message=pki_rewrite(message) if pki else message,
            retry=True,
            error_source=rules.source(err),
        )
    if isinstance(err, ConnectorValidationError | ActionTypeDisabledError):
        source: ErrorSource = "user" if isinstance(err, ConnectorValidationError) else "framework"
        return ExecutionResult(
            "error", connector_id, message=str(err), retry=False, error_source=source
        )
    return ExecutionResult(
        "error",
        connector_id,
        message=EXECUTION_FAILED,
        service_message=str(err),
        retry=True,
        error_source="user" if isinstance(err, SubActionParamsError) else "framework",
    )


def _iso(moment: datetime) -> str:
    """``Date.toISOString()``: UTC, milliseconds, ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def event_error_message(
    message: str, service_message: str | None, retry: bool | str | datetime | None
) -> str:
    """The event log's ``error.message`` (spec §4.2)."""
    text = message
    if service_message:
        text += f": {service_message}"
    if isinstance(retry, datetime):
        text += f"; retry at {_iso(retry)}"
    elif isinstance(retry, str) and retry:
        text += f"; retry at {retry}"
    elif retry:
        text += "; retry: true"
    return text


def error_kind(err: BaseException) -> str:
    """A small, bounded label for an upstream failure (metrics: upstream errors by kind)."""
    if isinstance(err, UpstreamStatusError):
        return f"http_{err.status}"
    for cls, kind in _KINDS:
        if isinstance(err, cls):
            return kind
    return "other"


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (UpstreamTimeoutError, "timeout"),
    (UpstreamTLSError, "tls"),
    (UpstreamProxyError, "proxy"),
    (UpstreamForbiddenHostError, "forbidden_host"),
    (UpstreamProtocolError, "protocol"),
    (UpstreamConnectionError, "connection"),
)
