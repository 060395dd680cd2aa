"""Errors of an execution and of its outbound call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from llmrelay.errors.base import LlmrelayError


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
