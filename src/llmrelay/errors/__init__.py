"""The one exception tree of llmrelay: every error it raises on purpose is defined in this
package, one module per branch (``base``: the root; ``requests``, ``upstream``, ``access``,
``store``, ``cli``), and imported from here.

Each class declares, as data, the HTTP status an answer about it carries and Kibana's
``error`` name for that status: ``http_status`` and ``kibana_error``, set by the class
keyword ``http_status=`` and inherited otherwise. The web layer reads them in one step
and builds the bodies; nothing here knows more of HTTP. Every library exception
(aiohttp, ssl, json, ...) is translated into one of these in exactly one place.
"""

from __future__ import annotations

from llmrelay.errors.access import (
    ActionTypeDisabledError,
    AuthError,
    ForbiddenError,
    UnauthenticatedError,
)
from llmrelay.errors.base import (
    LlmrelayError,
)
from llmrelay.errors.cli import (
    LocalModelUnavailableError,
    RemoteError,
)
from llmrelay.errors.requests import (
    BadRequestError,
    ConfigurationError,
    ConnectorBadRequestError,
    ConnectorConflictError,
    ConnectorError,
    ConnectorNotFoundError,
    ConnectorValidationError,
    EndpointUnavailableError,
    GatewayRequestError,
    LimitValidationError,
    PayloadTooLargeError,
    RequestBodyError,
    ResponsesTranslationError,
    SubActionParamsError,
    UrlError,
)
from llmrelay.errors.store import (
    ApiKeyNotFoundError,
    DecryptionError,
    EventLogUnavailableError,
    InvalidEventError,
    LimitExceededError,
    LimitNotFoundError,
    LimitReachedError,
    LimitsUnavailableError,
    StoreError,
    UnknownRoleError,
    UserExistsError,
    UserNotFoundError,
)
from llmrelay.errors.upstream import (
    ExecutionEnvelope,
    ExecutionFailedError,
    ResponseValidationError,
    RouteUnavailableError,
    TokenizerUnavailableError,
    UnknownSubActionError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamForbiddenHostError,
    UpstreamProtocolError,
    UpstreamProxyError,
    UpstreamRateLimitedError,
    UpstreamServerError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamTLSError,
    UpstreamUnauthorizedError,
    status_error,
)

__all__ = [
    "ActionTypeDisabledError",
    "ApiKeyNotFoundError",
    "AuthError",
    "BadRequestError",
    "ConfigurationError",
    "ConnectorBadRequestError",
    "ConnectorConflictError",
    "ConnectorError",
    "ConnectorNotFoundError",
    "ConnectorValidationError",
    "DecryptionError",
    "EndpointUnavailableError",
    "EventLogUnavailableError",
    "ExecutionEnvelope",
    "ExecutionFailedError",
    "ForbiddenError",
    "GatewayRequestError",
    "InvalidEventError",
    "LimitExceededError",
    "LimitNotFoundError",
    "LimitReachedError",
    "LimitValidationError",
    "LimitsUnavailableError",
    "LlmrelayError",
    "LocalModelUnavailableError",
    "PayloadTooLargeError",
    "RemoteError",
    "RequestBodyError",
    "ResponseValidationError",
    "ResponsesTranslationError",
    "RouteUnavailableError",
    "StoreError",
    "SubActionParamsError",
    "TokenizerUnavailableError",
    "UnauthenticatedError",
    "UnknownRoleError",
    "UnknownSubActionError",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamForbiddenHostError",
    "UpstreamProtocolError",
    "UpstreamProxyError",
    "UpstreamRateLimitedError",
    "UpstreamServerError",
    "UpstreamStatusError",
    "UpstreamTLSError",
    "UpstreamTimeoutError",
    "UpstreamUnauthorizedError",
    "UrlError",
    "UserExistsError",
    "UserNotFoundError",
    "status_error",
]
