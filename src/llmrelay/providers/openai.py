"""The ``OpenAI`` provider: api.openai.com or anything speaking its chat completions API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from llmrelay.domain.connectors import OpenAIConfig
from llmrelay.providers.base import PreparedCall, chat_call
from llmrelay.providers.bearer import connector_headers, sdk_stream_call
from llmrelay.providers.endpoints import beside_chat_url, endpoint_call

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector, ResponsesApi

OPENAI_CHAT_URL = "https://api.openai.com/v1/chat/completions"
OPENAI_LEGACY_COMPLETION_URL = "https://api.openai.com/v1/completions"
_STREAMING_URLS = frozenset({OPENAI_CHAT_URL, OPENAI_LEGACY_COMPLETION_URL})


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
        return connector_headers(connector, organization)

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        flag = stream if streams_on(connector.config.apiUrl) else None
        return chat_call(connector, self.headers(connector), body, stream=flag, request_usage=True)

    def prepare_async_iterator(
        self, connector: Connector, body: Mapping[str, object], *, default_model: str
    ) -> PreparedCall:
        return sdk_stream_call(self.headers(connector), connector, body, default_model)

    def prepare_endpoint(
        self, connector: Connector, endpoint: str, body: Mapping[str, object]
    ) -> PreparedCall:
        url = beside_chat_url(connector, endpoint)
        return endpoint_call(url, self.headers(connector), body, connector.config.defaultModel)

    def responses_mode(self, connector: Connector) -> ResponsesApi:
        return "native"

    def stream_usage(self, connector: Connector) -> bool:
        """The API sends a usage chunk when asked (``stream_options.include_usage``)."""
        return True

    def tokenizer_url(self, connector: Connector) -> str | None:
        return None
