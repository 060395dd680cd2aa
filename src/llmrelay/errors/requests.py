"""Errors about what a caller sent: settings, request bodies, ``/v1`` requests, connectors."""

from __future__ import annotations

from llmrelay.errors.base import LlmrelayError


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
