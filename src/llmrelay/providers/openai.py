"""The ``OpenAI`` provider: api.openai.com or anything speaking its chat completions API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llmrelay.domain.connectors import OpenAIConfig
from llmrelay.domain.events import TokenUsage, UsageSource
from llmrelay.domain.usage import usage_from_payload
from llmrelay.providers.base import (
    CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PreparedCall,
    async_iterator_body,
    inject_model_if_missing,
    json_call,
    merge_headers,
    parse_object,
    set_stream,
    strip_tool_params,
    verbatim_call,
)

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector

OPENAI_CHAT_URL = "https://api.openai.com/v1/chat/completions"
OPENAI_LEGACY_COMPLETION_URL = "https://api.openai.com/v1/completions"
_STREAMING_URLS = frozenset({OPENAI_CHAT_URL, OPENAI_LEGACY_COMPLETION_URL})
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


def streams_on(url: str) -> bool:
    """Whether the stream flag (and usage request) is applied to requests to ``url``.

    Kibana only does this for the two api.openai.com URLs. Deviation (d), Kibana issue
    178930: any URL whose path ends in ``/completions`` (gateways, proxies, Ollama...) is
    treated the same, otherwise invokeStream against such a URL never asks to stream.
    """
    if url in _STREAMING_URLS:
        return True
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return path.rstrip("/").endswith("/completions")


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
    """``invokeAsyncIterator`` for the Bearer providers (OpenAI, Other): what the OpenAI SDK
    sends, to ``<base>/chat/completions``."""
    sent = async_iterator_body(
        body, configured_model=connector.config.defaultModel, default_model=default_model
    )
    return json_call(sdk_chat_url(connector.config.apiUrl), headers, sent, "")


@dataclass(frozen=True, slots=True)
class OpenAIProvider:
    api_provider: str = "OpenAI"

    def headers(self, connector: Connector) -> dict[str, str]:
        config = connector.config
        organization: dict[str, str] = {}
        if isinstance(config, OpenAIConfig):
            if config.organizationId:
                organization["OpenAI-Organization"] = config.organizationId
            if config.projectId:
                organization["OpenAI-Project"] = config.projectId
        return merge_headers(
            {CONTENT_TYPE: JSON_CONTENT_TYPE},
            config.headers,
            organization,
            bearer_headers(connector.secrets.apiKey),
        )

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        url = connector.config.apiUrl
        headers = self.headers(connector)
        sent = parse_object(body)
        if sent is None:
            return verbatim_call(url, headers, body)
        if streams_on(url):
            set_stream(sent, stream, request_usage=True)
        inject_model_if_missing(sent, connector.config.defaultModel)
        strip_tool_params(sent)
        return json_call(url, headers, sent, body)

    def prepare_async_iterator(
        self, connector: Connector, body: Mapping[str, object], *, default_model: str
    ) -> PreparedCall:
        return sdk_stream_call(self.headers(connector), connector, body, default_model)

    def usage_from(self, payload: object, *, source: UsageSource = "response") -> TokenUsage:
        return usage_from_payload(payload, source=source)

    def stream_usage(self, connector: Connector) -> bool:
        """The API sends a usage chunk when asked (``stream_options.include_usage``)."""
        return True

    def tokenizer_url(self, connector: Connector) -> str | None:
        return None
