"""The root of the exception tree and Kibana's error names (see the package).

Each class declares, as data, the HTTP status an answer about it carries and Kibana's
``error`` name for that status: ``http_status`` and ``kibana_error``, set by the class
keyword ``http_status=`` and inherited otherwise. The web layer reads them in one step
and builds the bodies; nothing here knows more of HTTP. Every library exception
(aiohttp, ssl, json, ...) is translated into one of these in exactly one place.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

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
