"""The one exception tree of llmrelay.

Core errors carry no HTTP status: the web layer owns that mapping. Every library
exception (aiohttp, ssl, json, ...) is translated into one of these in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol


class LlmrelayError(Exception):
    """Root of every error llmrelay raises on purpose."""


# --- configuration -----------------------------------------------------------------
class ConfigurationError(LlmrelayError):
    """A setting (file, environment, argument) is invalid; the message names it."""


# --- connectors --------------------------------------------------------------------
class ConnectorError(LlmrelayError):
    """Something is wrong with a connector definition or lookup."""


class ConnectorNotFoundError(ConnectorError):
    pass


class ConnectorConflictError(ConnectorError):
    pass


class ConnectorValidationError(ConnectorError):
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


# --- upstream (outbound calls) ---------------------------------------------------------
class UpstreamError(LlmrelayError):
    """An outbound call failed. ``code`` mimics Node's error codes (``ECONNREFUSED``...)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class UpstreamConnectionError(UpstreamError):
    pass


class UpstreamTimeoutError(UpstreamError):
    pass


class UpstreamTLSError(UpstreamError):
    pass


class UpstreamProxyError(UpstreamError):
    pass


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something we cannot read (bad JSON, too large, bad SSE)."""


class UpstreamForbiddenHostError(UpstreamError):
    """A request (or a redirect) targets a host outside ``allowedHosts``."""


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error status.

    ``body`` holds the parsed JSON body when there is one, else the raw text; ``headers``
    the response's headers (the gateway forwards ``retry-after`` and the like from them).
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
class AuthError(LlmrelayError):
    pass


class UnauthenticatedError(AuthError):
    pass


class ForbiddenError(AuthError):
    pass


class ActionTypeDisabledError(ForbiddenError):
    """The connector's type is not in ``xpack.actions.enabledActionTypes``."""

    http_status: ClassVar[int] = 403
    kibana_error: ClassVar[str] = "Forbidden"

    def __init__(self, connector_type_id: str) -> None:
        super().__init__(
            f'action type "{connector_type_id}" is not enabled in the '
            "Kibana config xpack.actions.enabledActionTypes"
        )


# --- store -----------------------------------------------------------------------------
class StoreError(LlmrelayError):
    pass


class DecryptionError(StoreError):
    """Stored secrets could not be decrypted (wrong key or tampered data)."""


# --- execution ---------------------------------------------------------------------------
class UnknownSubActionError(LlmrelayError):
    """The connector registers no sub-action of that name."""

    http_status: ClassVar[int] = 400
    kibana_error: ClassVar[str] = "Bad Request"

    def __init__(self, sub_action: str, connector_id: str) -> None:
        super().__init__(
            f'Sub action "{sub_action}" is not registered. Connector id: {connector_id}.'
            " Connector name: OpenAI. Connector type: .gen-ai"
        )


class ResponseValidationError(LlmrelayError):
    """The upstream answered 2xx with a body the sub-action's response schema refuses."""

    http_status: ClassVar[int] = 502
    kibana_error: ClassVar[str] = "Bad Gateway"

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

    http_status: ClassVar[int] = 502
    kibana_error: ClassVar[str] = "Bad Gateway"

    def __init__(self, result: ExecutionEnvelope) -> None:
        self.result = result
        super().__init__(result.service_message or result.message or "execution failed")
