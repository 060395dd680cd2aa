"""The ``Other`` provider: OpenAI-compatible servers (llama.cpp, Ollama, LM Studio, vLLM...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmrelay.domain.connectors import OtherConfig
from llmrelay.domain.events import TokenUsage, UsageSource
from llmrelay.domain.usage import usage_from_payload
from llmrelay.providers.base import (
    CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PreparedCall,
    inject_model_if_missing,
    json_call,
    merge_headers,
    parse_object,
    server_root_url,
    set_stream,
    strip_tool_params,
    verbatim_call,
)
from llmrelay.providers.openai import bearer_headers, sdk_stream_call

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector


@dataclass(frozen=True, slots=True)
class OtherProvider:
    api_provider: str = "Other"

    def headers(self, connector: Connector) -> dict[str, str]:
        return merge_headers(
            {CONTENT_TYPE: JSON_CONTENT_TYPE},
            connector.config.headers,
            bearer_headers(connector.secrets.apiKey),
        )

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        """Always ``stream = S``; no ``stream_options`` (compatible servers may reject it),
        unless ``config.streamUsage`` says the server supports them (llmrelay addition):
        then streams ask for the usage chunk as OpenAI's do.

        Deviation (c): the default model is injected on every path when the body names
        none; Kibana's run/test/invokeAI path skips it, and servers such as Ollama then fail.
        """
        url = connector.config.apiUrl
        headers = self.headers(connector)
        sent = parse_object(body)
        if sent is None:
            return verbatim_call(url, headers, body)
        set_stream(sent, stream, request_usage=self.stream_usage(connector))
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
