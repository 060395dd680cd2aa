"""The ``/v1`` gateway's other endpoints, ``embeddings`` and legacy ``completions``: the
caller's body to the endpoint beside the connector's chat URL, through the same outbound
client, credentials, PKI, proxy and TLS rules, usage and events as chat.

Events carry ``llmrelay.endpoint`` and the endpoint's name as ``llmrelay.sub_action``.
Embedding tokens are prompt tokens; without a server count the input is counted locally.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import Endpoint
from llmrelay.errors import UpstreamError
from llmrelay.execution.calls import Calls
from llmrelay.execution.endpoint_usage import embedding_usage
from llmrelay.execution.gateway import GatewayResult
from llmrelay.execution.records import finish_gateway_failure, finish_record, new_record
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.providers.base import ask_usage_chunk, asks_usage_chunk
from llmrelay.providers.registry import provider_for

__all__ = ["STREAMING_ENDPOINTS", "forward_endpoint"]

STREAMING_ENDPOINTS: frozenset[Endpoint] = frozenset({"completions"})
"""Endpoints whose ``"stream": true`` answers an SSE stream (embeddings never stream)."""


async def forward_endpoint(
    calls: Calls,
    connector: Connector,
    endpoint: Endpoint,
    body: Mapping[str, object],
    context: ExecutionContext,
) -> GatewayResult:
    """One call of ``endpoint`` (``model`` already resolved, see ``gateway.apply_model``).

    A URL the connector does not tell raises ``EndpointUnavailableError`` before any
    event; upstream failures are raised after the failure event, as for chat. Streams
    ask for the usage chunk where the provider allows it and hide it from a caller that
    did not ask.
    """
    provider = provider_for(connector)
    stream = endpoint in STREAMING_ENDPOINTS and body.get("stream") is True
    sent = dict(body)
    caller_wants_usage = stream and asks_usage_chunk(sent)
    if stream and provider.stream_usage(connector):
        ask_usage_chunk(sent)
    call = provider.prepare_endpoint(connector, endpoint, sent)
    record = new_record(connector, endpoint, context)
    record.endpoint = endpoint
    calls.sink.started(record)
    try:
        if stream:
            response = await calls.send(connector, call, calls.timeout(None, 0), record)
            strip = call.usage_requested and not caller_wants_usage
            tapped = calls.tap(connector, call, response, record, "completions", strip)
            return GatewayResult(200, response.headers, stream=tapped)
        timeout = calls.timeout(None, calls.settings.defaultTimeoutMs)
        response, raw, _ = await calls.read_json(connector, call, timeout, record)
    except UpstreamError as err:
        await finish_gateway_failure(calls.sink, connector, record, err)
        raise
    if endpoint == "embeddings" and not record.usage.known:
        record.usage = embedding_usage(call.json_body, record.model)
    await finish_record(calls.sink, record, ExecutionResult("ok", connector.id))
    return GatewayResult(response.status, response.headers, body=raw)
