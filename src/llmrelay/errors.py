"""The one exception tree of llmrelay.

Core errors carry no HTTP status: the web layer owns that mapping. Every library
exception (aiohttp, ssl, json, ...) is translated into one of these in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping


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


# --- store -----------------------------------------------------------------------------
class StoreError(LlmrelayError):
    pass


class DecryptionError(StoreError):
    """Stored secrets could not be decrypted (wrong key or tampered data)."""
