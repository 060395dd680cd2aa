"""The other OpenAI endpoints the ``/v1`` gateway forwards (``embeddings``, legacy
``completions``): where they are, derived from a connector's ``apiUrl``, and their body.

A connector is configured with its chat completions URL; the other endpoints sit beside
it on OpenAI-compatible servers (``.../v1/chat/completions`` -> ``.../v1/embeddings``).
A URL that does not show where they are is refused (:class:`EndpointUnavailableError`),
never guessed: a wrong guess would send the caller's input to some other path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llmrelay.errors import EndpointUnavailableError
from llmrelay.providers.base import PreparedCall, inject_model_if_missing, json_call

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from llmrelay.domain.connectors import Connector

__all__ = ["beside_chat_url", "endpoint_call", "split_api_url", "with_path"]

_CHAT_COMPLETIONS = re.compile(r"/chat/completions/?$")


def split_api_url(connector: Connector, endpoint: str) -> SplitResult:
    """The connector's ``apiUrl`` in parts; a URL that does not parse cannot be derived from."""
    try:
        return urlsplit(connector.config.apiUrl)
    except ValueError:
        raise EndpointUnavailableError(connector.id, endpoint, "its apiUrl is not a URL") from None


def with_path(parts: SplitResult, path: str) -> str:
    """``parts`` with another path; the query (Azure's ``api-version``) is kept."""
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def beside_chat_url(connector: Connector, endpoint: str) -> str:
    """``apiUrl`` with its trailing ``/chat/completions`` replaced by ``/<endpoint>``; a URL
    that already ends in ``/<endpoint>`` (a legacy completions connector) is that endpoint."""
    parts = split_api_url(connector, endpoint)
    if _CHAT_COMPLETIONS.search(parts.path):
        return with_path(parts, _CHAT_COMPLETIONS.sub("/" + endpoint, parts.path))
    if parts.path.rstrip("/").endswith("/" + endpoint):
        return with_path(parts, parts.path)
    raise EndpointUnavailableError(
        connector.id,
        endpoint,
        f"its apiUrl does not end in /chat/completions, so the /{endpoint} URL cannot "
        "be derived from it",
    )


def endpoint_call(
    url: str, headers: dict[str, str], body: Mapping[str, object], default_model: str | None
) -> PreparedCall:
    """The caller's body as sent: ``model`` = ``default_model`` when it names none (the
    chat rule); everything else, ``stream`` included, as the caller sent it."""
    sent = dict(body)
    inject_model_if_missing(sent, default_model)
    return json_call(url, headers, sent, "")
