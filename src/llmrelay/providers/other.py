"""The ``Other`` provider: OpenAI-compatible servers (llama.cpp, Ollama, LM Studio, vLLM...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmrelay.domain.connectors import OtherConfig
from llmrelay.providers.base import PreparedCall, chat_call, server_root_url
from llmrelay.providers.bearer import connector_headers, sdk_stream_call
from llmrelay.providers.endpoints import beside_chat_url, endpoint_call

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector, ResponsesApi


@dataclass(frozen=True, slots=True)
class OtherProvider:
    api_provider: str = "Other"

    def headers(self, connector: Connector) -> dict[str, str]:
        return connector_headers(connector)

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        """Always ``stream = S``; no ``stream_options`` (compatible servers may reject it),
        unless ``config.streamUsage`` says the server supports them (llmrelay addition):
        then streams ask for the usage chunk as OpenAI's do.

        Deviation (c): the default model is injected on every path when the body names
        none; Kibana's run/test/invokeAI path skips it, and servers such as Ollama then fail.
        """
        return chat_call(
            connector,
            connector_headers(connector),
            body,
            stream=stream,
            request_usage=self.stream_usage(connector),
        )

    def prepare_async_iterator(
        self, connector: Connector, body: Mapping[str, object], *, default_model: str
    ) -> PreparedCall:
        return sdk_stream_call(connector_headers(connector), connector, body, default_model)

    def prepare_endpoint(
        self, connector: Connector, endpoint: str, body: Mapping[str, object]
    ) -> PreparedCall:
        url = beside_chat_url(connector, endpoint)
        return endpoint_call(url, connector_headers(connector), body, connector.config.defaultModel)

    def responses_mode(self, connector: Connector) -> ResponsesApi:
        """``config.responsesApi`` (an llmrelay addition), ``auto`` when unset: compatible
        servers differ in whether they offer ``/responses``."""
        config = connector.config
        mode = config.responsesApi if isinstance(config, OtherConfig) else None
        return mode or "auto"

    def stream_usage(self, connector: Connector) -> bool:
        """Only when the connector says its server supports ``stream_options``
        (``config.streamUsage``, an llmrelay addition); many local servers reject it."""
        config = connector.config
        return isinstance(config, OtherConfig) and config.streamUsage is True

    def tokenizer_url(self, connector: Connector) -> str | None:
        """``<server root>/tokenize`` when ``config.serverTokenizer`` is set (llama.cpp)."""
        config = connector.config
        if not (isinstance(config, OtherConfig) and config.serverTokenizer is True):
            return None
        return server_root_url(config.apiUrl, "/tokenize")
