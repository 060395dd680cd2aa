"""The one exception tree of llmrelay: every error it raises on purpose is defined here.

Each class declares, as data, the HTTP status an answer about it carries and Kibana's
``error`` name for that status: ``http_status`` and ``kibana_error``, set by the class
keyword ``http_status=`` and inherited otherwise. The web layer reads them in one step
and builds the bodies; nothing here knows more of HTTP. Every library exception
(aiohttp, ssl, json, ...) is translated into one of these in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Protocol

# Kibana's ``error`` names (Boom's): 413 stays "Request Entity Too Large" whatever
# Python's http.HTTPStatus calls it.
_KIBANA_ERRORS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class LlmrelayError(Exception):
    """Root of every error llmrelay raises on purpose."""

    http_status: ClassVar[int] = 500
    kibana_error: ClassVar[str] = _KIBANA_ERRORS[500]

    def __init_subclass__(cls, *, http_status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if http_status is not None:
            cls.http_status = http_status
            cls.kibana_error = _KIBANA_ERRORS[http_status]


# --- configuration -----------------------------------------------------------------
class ConfigurationError(LlmrelayError):
    """A setting (file, environment, argument) is invalid; the message names it."""


# --- requests (what a caller sent) ----------------------------------------------------
class BadRequestError(LlmrelayError, http_status=400):
    """A malformed HTTP request (body, query, header)."""


class PayloadTooLargeError(LlmrelayError, http_status=413):
    """A request body over the limit (Kibana's ``server.maxPayload``)."""


class RequestBodyError(LlmrelayError, ValueError, http_status=400):
    """A request body that does not match the route's schema."""


class GatewayRequestError(LlmrelayError, http_status=400):
    """A ``/v1`` request the gateway refuses itself, with OpenAI's ``param`` and ``code``.

    The status varies per refusal, so the gateway answers with the instance's ``status``.
    """

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        self.status = status
        self.param = param
        self.code = code
        super().__init__(message)


class EndpointUnavailableError(GatewayRequestError, http_status=404):
    """A ``/v1`` endpoint (``embeddings``, ``completions``) whose upstream URL the
    connector's ``apiUrl`` does not tell: refused rather than guessed."""

    def __init__(self, connector_id: str, endpoint: str, reason: str) -> None:
        self.connector_id = connector_id
        self.endpoint = endpoint
        super().__init__(
            404,
            f"Connector `{connector_id}` cannot serve /v1/{endpoint}: {reason}.",
            param="model",
            code="endpoint_not_supported",
        )


class ResponsesTranslationError(GatewayRequestError, http_status=400):
    """A ``/v1/responses`` request for a connector that translates it to chat completions,
    using a parameter that has no chat equivalent (tools, files, stored state...)."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(
            400,
            f"Unsupported parameter: '{param}' {reason}; this connector serves the Responses "
            "API by translating it to chat completions, which support only text input and "
            "output (see the connector's responsesApi setting).",
            param=param,
            code="unsupported_parameter",
        )


class SubActionParamsError(LlmrelayError, ValueError, http_status=400):
    """``subActionParams`` do not match the sub-action's schema (a user error, no retry).

    Never answered as such: the executor turns it into an error envelope.
    """

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"Request validation failed ({detail})")


class LimitValidationError(LlmrelayError, ValueError, http_status=400):
    """A limit definition that is not valid; the message names the field."""


class UrlError(LlmrelayError, ValueError, http_status=400):
    """A URL is unusable; ``str()`` is Kibana's message (``URL Error: ...``).

    Never answered as such: validation and the outbound stack translate it.
    """


# --- connectors --------------------------------------------------------------------
class ConnectorError(LlmrelayError):
    """Something is wrong with a connector definition or lookup."""


class ConnectorNotFoundError(ConnectorError, http_status=404):
    pass


class ConnectorConflictError(ConnectorError, http_status=409):
    pass


class ConnectorBadRequestError(ConnectorError, http_status=400):
    """A request about connectors that Kibana answers with 400 (not a validation error)."""


class ConnectorValidationError(ConnectorError, http_status=400):
    """Config, secrets or params failed validation.

    ``kind`` is ``"config"``, ``"secrets"`` or ``"params"``; ``str(err)`` is the full
    Kibana-style message (``error validating connector type config: ...``).
    """

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        prefix = {
            "config": "error validating connector type config: ",
            "secrets": "error validating connector type secrets: ",
            "params": "error validating action params: ",
        }.get(kind, "")
        super().__init__(prefix + detail)


# --- execution ---------------------------------------------------------------------------
class UnknownSubActionError(LlmrelayError, http_status=400):
    """The connector registers no sub-action of that name."""

    def __init__(self, sub_action: str, connector_id: str) -> None:
        super().__init__(
            f'Sub action "{sub_action}" is not registered. Connector id: {connector_id}.'
            " Connector name: OpenAI. Connector type: .gen-ai"
        )


class ResponseValidationError(LlmrelayError, http_status=502):
    """The upstream answered 2xx with a body the sub-action's response schema refuses."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"Response validation failed ({problem})")


class ExecutionEnvelope(Protocol):
    """What :class:`ExecutionFailedError` carries: an ``ExecutionResult`` (read-only view,
    declared here because this module imports nothing of llmrelay)."""

    @property
    def status(self) -> str: ...
    @property
    def connector_id(self) -> str: ...
    @property
    def message(self) -> str | None: ...
    @property
    def service_message(self) -> str | None: ...
    @property
    def retry(self) -> bool | str | None: ...
    @property
    def error_source(self) -> str | None: ...
    def to_kibana(self) -> dict[str, object]: ...


class ExecutionFailedError(LlmrelayError):
    """Raised by ``Executor.stream`` when the execution's result is an error; ``result`` is
    that envelope. (``_execute`` answers the envelope itself: this is for library callers.)"""

    def __init__(self, result: ExecutionEnvelope) -> None:
        self.result = result
        super().__init__(result.service_message or result.message or "execution failed")


class TokenizerUnavailableError(LlmrelayError):
    """A vocabulary could not be loaded (missing, corrupt or unknown), or a server's
    tokenizer endpoint did not answer as one: counts are unknown."""


# --- upstream (outbound calls) ---------------------------------------------------------
class UpstreamError(LlmrelayError, http_status=502):
    """An outbound call failed. ``code`` mimics Node's error codes (``ECONNREFUSED``...)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class UpstreamConnectionError(UpstreamError):
    pass


class UpstreamTimeoutError(UpstreamError, http_status=504):
    pass


class UpstreamTLSError(UpstreamError):
    pass


class UpstreamProxyError(UpstreamError):
    pass


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something we cannot read (bad JSON, too large, bad SSE)."""


class UpstreamForbiddenHostError(UpstreamError, http_status=403):
    """A request (or a redirect) targets a host outside ``allowedHosts``."""


class RouteUnavailableError(UpstreamError, http_status=503):
    """A route found none of the connectors it names (all deleted since, or too deep)."""

    def __init__(self, route_id: str) -> None:
        super().__init__(
            f'Route "{route_id}" has no connector left to try: its targets and fallbacks '
            "no longer exist"
        )


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error status.

    ``body`` holds the parsed JSON body when there is one, else the raw text; ``headers``
    the response's headers (the gateway forwards ``retry-after`` and the like from them).
    The gateway answers with the upstream's ``status`` when it is one of 400-599.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        body: object,
        *,
        message: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        super().__init__(message or f"{status} {reason}", code=f"HTTP{status}")


class UpstreamUnauthorizedError(UpstreamStatusError):
    pass


class UpstreamRateLimitedError(UpstreamStatusError):
    pass


class UpstreamServerError(UpstreamStatusError):
    pass


def status_error(
    status: int, reason: str, body: object, headers: Mapping[str, str] | None = None
) -> UpstreamStatusError:
    """Build the most specific status error class for ``status``."""
    cls: type[UpstreamStatusError] = UpstreamStatusError
    if status == 401:
        cls = UpstreamUnauthorizedError
    elif status == 429:
        cls = UpstreamRateLimitedError
    elif status >= 500:
        cls = UpstreamServerError
    return cls(status, reason, body, headers=headers)


# --- auth ----------------------------------------------------------------------------
class AuthError(LlmrelayError, http_status=403):
    pass


class UnauthenticatedError(AuthError, http_status=401):
    pass


class ForbiddenError(AuthError):
    pass


class ActionTypeDisabledError(ForbiddenError):
    """The connector's type is not in ``xpack.actions.enabledActionTypes``."""

    def __init__(self, connector_type_id: str) -> None:
        super().__init__(
            f'action type "{connector_type_id}" is not enabled in the '
            "Kibana config xpack.actions.enabledActionTypes"
        )


# --- store -----------------------------------------------------------------------------
class StoreError(LlmrelayError, http_status=503):
    """The database failed or refused; answered with a generic message."""


class DecryptionError(StoreError, http_status=500):
    """Stored secrets could not be decrypted (wrong key or tampered data)."""


class UserExistsError(StoreError, http_status=409):
    pass


class LimitReachedError(LlmrelayError, http_status=429):
    """A window of a limit is full; raised inside the admission transaction to roll it
    back. ``window`` is the store's description of it (typed loosely: this module sits
    below ``store``)."""

    def __init__(self, window: Any) -> None:
        super().__init__("limit reached")
        self.window = window


class LimitExceededError(LlmrelayError, http_status=429):
    """A request refused by a limit: ``limit_id`` refused it, ``retry_after`` (whole
    seconds) says when its window admits again, ``budget`` tells a day or month budget
    (``insufficient_quota`` on ``/v1``) from a per-minute rate (``rate_limit_error``)."""

    def __init__(self, message: str, *, limit_id: str, retry_after: int, budget: bool) -> None:
        super().__init__(message)
        self.limit_id = limit_id
        self.retry_after = retry_after
        self.budget = budget


class LimitsUnavailableError(StoreError, http_status=503):
    """Limits cover the request but their counters cannot be reached and
    ``llmrelay.limits.onStoreOutage`` is ``closed``: refused, to be retried shortly."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the limits cannot be checked: the store is unavailable")
        self.retry_after = retry_after


class LimitNotFoundError(StoreError, http_status=404):
    """No limit with this id in this space."""


class UserNotFoundError(StoreError, http_status=404):
    pass


class ApiKeyNotFoundError(StoreError, http_status=404):
    pass


class UnknownRoleError(StoreError, ValueError, http_status=400):
    """A grant names a role llmrelay does not know (the command line's accounts)."""


class InvalidEventError(StoreError, ValueError, http_status=500):
    """A document lacks what the log needs (``event.id``, ``@timestamp``): a caller's bug,
    not an outage."""


class EventLogUnavailableError(StoreError, http_status=503):
    """An execution's event could not be made durable (``llmrelay.eventLog.durability:
    answer``): its answer is withheld, so that no answered execution goes unrecorded. The
    message is shown to the caller; it names the cause, never a document."""

    @classmethod
    def journal_unwritable(cls, exc: OSError) -> EventLogUnavailableError:
        reason = exc.strerror or type(exc).__name__
        return cls(
            f"The event log could not record this execution: its journal is not writable "
            f"({reason}). The answer is withheld so that no answered execution goes "
            "unrecorded; free space in llmrelay's data directory and retry."
        )


# --- the command line ------------------------------------------------------------------
class RemoteError(LlmrelayError):
    """A failure talking to llmrelay, already phrased for the user; ``status`` is the HTTP
    status of an error llmrelay answered (None for anything else)."""

    EXIT_CODE: ClassVar[int] = 1  # the command's exit status unless the caller says

    def __init__(
        self, message: str, exit_code: int = EXIT_CODE, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


class LocalModelUnavailableError(LlmrelayError):
    """The model runtime or the model file is missing, or the server did not come up;
    ``hint`` says what to do about it."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{reason}; {hint}" if hint else reason)
        self.reason = reason
