"""The provider contract and the request rules the three providers share (spec §2.2-2.3, §2.8).

Bodies are rewritten on parsed JSON, never by string surgery: existing keys keep their
place and new keys are appended, as ``JSON.parse`` / ``JSON.stringify`` would do. A body
that is not a JSON object is forwarded byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector, ResponsesApi

JsonObject = dict[str, object]

CONTENT_TYPE = "Content-Type"
JSON_CONTENT_TYPE = "application/json"
# Kibana strips these from invoke params before anything is sent upstream.
_CALLER_ONLY_PARAMS = ("signal", "timeout", "telemetryMetadata")


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """Everything the executor needs to send one upstream request."""

    url: str
    headers: dict[str, str]
    body: bytes
    model: str | None  # the model actually requested; None when unknown (non-JSON body)
    stream: bool  # the body asks the upstream to stream
    usage_requested: bool  # the body asks for a final usage chunk (stream_options.include_usage)
    json_body: JsonObject | None  # the object sent; None when the body was forwarded verbatim


class Provider(Protocol):
    """One of ``OpenAI`` / ``Azure OpenAI`` / ``Other``; implementations are frozen singletons."""

    @property
    def api_provider(self) -> str: ...

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        """run / test / stream / invokeAI / invokeStream: ``stream`` is the requested flag."""
        ...

    def prepare_async_iterator(
        self, connector: Connector, body: Mapping[str, object], *, default_model: str
    ) -> PreparedCall:
        """invokeAsyncIterator: the SDK-shaped streaming request."""
        ...

    def prepare_endpoint(
        self, connector: Connector, endpoint: str, body: Mapping[str, object]
    ) -> PreparedCall:
        """``/v1/embeddings`` / ``/v1/completions``: the caller's body to the endpoint beside
        the connector's chat URL; ``EndpointUnavailableError`` when its URL is not known."""
        ...

    def responses_mode(self, connector: Connector) -> ResponsesApi:
        """How ``/v1/responses`` is served: ``native`` (forwarded), ``translate`` (to chat
        completions and back) or ``auto`` (native until the server says it has none)."""
        ...

    def stream_usage(self, connector: Connector) -> bool:
        """Whether the upstream may be asked for a final usage chunk on streams
        (``stream_options.include_usage``)."""
        ...

    def tokenizer_url(self, connector: Connector) -> str | None:
        """A ``/tokenize`` endpoint to count estimated usage with (llama.cpp), or None."""
        ...


# --- body rules ------------------------------------------------------------------------------
def js_truthy(value: object) -> bool:
    """JavaScript truthiness of a parsed JSON value (``[]`` and ``{}`` are truthy)."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return bool(value)
    return True


def parse_object(body: str) -> JsonObject | None:
    """The body as a JSON object, or None when it is not valid JSON or not an object."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def encode_text(body: str) -> bytes:
    """UTF-8 bytes of ``body``; lone surrogates become U+FFFD, as Node's encoder does."""
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        repaired = body.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return repaired.encode("utf-8")


def asks_usage_chunk(body: Mapping[str, object]) -> bool:
    """Whether a body asks for the final usage chunk (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def ask_usage_chunk(body: JsonObject) -> None:
    """Ask for the final usage chunk: ``stream_options.include_usage = true``, merged into
    an existing ``stream_options`` object rather than replacing it."""
    options = body.get("stream_options")
    merged: JsonObject = dict(options) if isinstance(options, dict) else {}
    merged["include_usage"] = True
    body["stream_options"] = merged


def set_stream(body: JsonObject, stream: bool, *, request_usage: bool) -> None:
    """``stream = S``; with ``request_usage`` and S true, also ask for the usage chunk."""
    body["stream"] = stream
    if stream and request_usage:
        ask_usage_chunk(body)


def strip_tool_params(body: JsonObject) -> None:
    """Drop tool-calling knobs that make no sense without tools (newer Kibana).

    Some OpenAI-compatible gateways reject ``tool_choice`` / ``parallel_tool_calls``
    without ``tools`` and ``function_call`` without ``functions``.
    """
    tools = body.get("tools")
    if not (isinstance(tools, list) and tools):
        body.pop("tool_choice", None)
        body.pop("parallel_tool_calls", None)
    functions = body.get("functions")
    if not (isinstance(functions, list) and functions):
        body.pop("function_call", None)


def inject_model_if_missing(body: JsonObject, default_model: str | None) -> None:
    """``model = default_model`` when one is configured and the body names none."""
    if default_model and not js_truthy(body.get("model")):
        body["model"] = default_model


def async_iterator_body(
    body: Mapping[str, object], *, configured_model: str | None, default_model: str
) -> JsonObject:
    """``{...body, stream: true, model: body.model || config.defaultModel || default}``."""
    sent: JsonObject = {k: v for k, v in body.items() if k not in _CALLER_ONLY_PARAMS}
    model = sent.get("model")
    sent["stream"] = True
    sent["model"] = model if js_truthy(model) else (configured_model or default_model)
    return sent


def chat_call(
    connector: Connector,
    headers: dict[str, str],
    body: str,
    *,
    stream: bool | None,
    request_usage: bool,
    strip_tools: bool = True,
) -> PreparedCall:
    """The body rules ``prepare`` applies to a JSON object body, in Kibana's order: the
    stream flag (``stream`` None: left as the caller sent it), the default model, the
    tool knobs; a body that is not a JSON object is forwarded verbatim."""
    url = connector.config.apiUrl
    sent = parse_object(body)
    if sent is None:
        return verbatim_call(url, headers, body)
    if stream is not None:
        set_stream(sent, stream, request_usage=request_usage)
    inject_model_if_missing(sent, connector.config.defaultModel)
    if strip_tools:
        strip_tool_params(sent)
    return json_call(url, headers, sent, body)


def server_root_url(api_url: str, path: str) -> str | None:
    """``scheme://host[:port]<path>`` of ``api_url``'s server, or None if it has no host."""
    try:
        parts = urlsplit(api_url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# --- headers -----------------------------------------------------------------------------------
def merge_headers(*layers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """Merge header layers; later layers win, names compare case-insensitively.

    The output keeps one entry per name, at the place the name first appeared, spelled
    as the layer that set its final value spelled it.
    """
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        if layer is None:
            continue
        items = layer.items() if isinstance(layer, Mapping) else layer
        for name, value in items:
            merged[name.lower()] = (name, value)
    return dict(merged.values())


# --- results -----------------------------------------------------------------------------------
def _described(url: str, headers: dict[str, str], encoded: bytes, sent: JsonObject) -> PreparedCall:
    model = sent.get("model")
    stream = sent.get("stream") is True
    return PreparedCall(
        url=url,
        headers=headers,
        body=encoded,
        model=model if isinstance(model, str) and model else None,
        stream=stream,
        usage_requested=stream and asks_usage_chunk(sent),
        json_body=sent,
    )


def json_call(url: str, headers: dict[str, str], sent: JsonObject, raw: str) -> PreparedCall:
    """A call whose body is the re-serialised ``sent`` (``raw`` verbatim if that fails)."""
    try:
        encoded = orjson.dumps(sent)
    except orjson.JSONEncodeError:  # unreachable for parsed JSON; never fail a request on it
        return verbatim_call(url, headers, raw)
    return _described(url, headers, encoded, sent)


def unchanged_call(url: str, headers: dict[str, str], raw: str, parsed: JsonObject) -> PreparedCall:
    """A call forwarding the caller's JSON object text as is (described from ``parsed``)."""
    return _described(url, headers, encode_text(raw), parsed)


def verbatim_call(url: str, headers: dict[str, str], raw: str) -> PreparedCall:
    """A call forwarding a body that is not a JSON object unchanged."""
    return PreparedCall(
        url=url,
        headers=headers,
        body=encode_text(raw),
        model=None,
        stream=False,
        usage_requested=False,
        json_body=None,
    )
