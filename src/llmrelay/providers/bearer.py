"""What the Bearer providers (``OpenAI`` and ``Other``) share: the auth layer and the OpenAI
SDK's streaming request (``invokeAsyncIterator``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llmrelay.providers.base import (
    CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PreparedCall,
    async_iterator_body,
    json_call,
    merge_headers,
)

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector

_CHAT_COMPLETIONS_PATH = re.compile(r"/chat/completions/?$")


def bearer_headers(api_key: str | None) -> dict[str, str]:
    """The auth layer of OpenAI and Other: ``Authorization: Bearer <key>`` + content type.

    Deviation: without an API key (PKI-only connectors) Kibana still sends ``Bearer ``
    with an empty token, which some servers reject; we omit ``Authorization`` instead,
    so a custom ``Authorization`` from ``config.headers`` then survives.
    """
    layer = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    layer["content-type"] = JSON_CONTENT_TYPE
    return layer


def connector_headers(
    connector: Connector, provider_layer: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Content type, then ``config.headers``, then the provider's own layer, then auth."""
    return merge_headers(
        {CONTENT_TYPE: JSON_CONTENT_TYPE},
        connector.config.headers,
        provider_layer,
        bearer_headers(connector.secrets.apiKey),
    )


def sdk_chat_url(api_url: str) -> str:
    """Where the OpenAI SDK posts for a connector configured with ``api_url``.

    Kibana hands the SDK ``api_url`` minus a trailing ``/chat/completions`` as base URL
    and the SDK appends ``/chat/completions``: the configured URL in the usual case,
    a base URL such as ``http://host/v1`` otherwise gains the path.
    """
    try:
        parts = urlsplit(api_url)
    except ValueError:
        return api_url
    if _CHAT_COMPLETIONS_PATH.search(parts.path):
        return api_url
    path = parts.path.rstrip("/") + "/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def sdk_stream_call(
    headers: dict[str, str],
    connector: Connector,
    body: Mapping[str, object],
    default_model: str,
) -> PreparedCall:
    """``invokeAsyncIterator``: what the OpenAI SDK sends, to ``<base>/chat/completions``."""
    sent = async_iterator_body(
        body, configured_model=connector.config.defaultModel, default_model=default_model
    )
    return json_call(sdk_chat_url(connector.config.apiUrl), headers, sent, "")
