"""Token usage of an execution: from a JSON response, from an SSE stream, or estimated.

Kibana's rules (spec §3): a response's ``usage`` is taken as is; a stream's usage chunk
wins (last one); otherwise prompt and completion are counted locally from the prompt
formats below and the streamed deltas; a malformed data line makes the count unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

import orjson

from llmrelay.domain.events import TokenUsage
from llmrelay.domain.usage import usage_from_payload, usage_of
from llmrelay.errors import TokenizerUnavailableError
from llmrelay.execution.tokens import count_tokens, encoding_for_model
from llmrelay.transport.sse import SSEDecoder, SSEEvent

__all__ = [
    "StreamUsageCollector",
    "functions_text",
    "prompt_text",
    "usage_from_response",
]

_CHUNK_OBJECT = "chat.completion.chunk"
_TEXT_COMPLETION = "text_completion"  # legacy /completions chunks: ``choices[].text``
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def usage_from_response(payload: object) -> TokenUsage:
    """Usage of a non-stream response (a parsed body, or its raw JSON bytes/text).

    Missing numbers count as 0 and a missing ``total_tokens`` as prompt + completion;
    no ``usage`` object at all means the usage is unknown.
    """
    if isinstance(payload, bytes | bytearray | memoryview | str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return TokenUsage.missing()
    return usage_from_payload(payload, source="response")


def _text(value: object) -> str:
    """Message content as text: strings as is, ``None`` empty, content parts by their
    text, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        texts: list[str] = []
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(str(part["text"]))
        return "\n".join(texts)
    return _json(value)


def _json(value: object) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def prompt_text(
    messages: Sequence[Mapping[str, object]], style: Literal["stream", "invoke"]
) -> str:
    """The text Kibana counts as the prompt (spec §3.2), one block per message.

    ``stream`` (``stream`` sub-action and invokeAsyncIterator):
    ``<|start|>{role}\\n{content}\\n{X}<|end|>`` where X is the message's ``name``, else its
    ``function_call`` name and arguments on two lines, else empty (Kibana would write
    ``undefined`` for a missing name; we write nothing). ``invoke`` (invokeStream):
    ``<|start|>{role}\\n{content}<|end|>``.
    """
    blocks: list[str] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        head = f"<|start|>{_text(message.get('role'))}\n{_text(message.get('content'))}"
        if style == "invoke":
            blocks.append(head + "<|end|>")
            continue
        extra = ""
        name = message.get("name")
        call = message.get("function_call")
        if name is not None:
            extra = _text(name)
        elif isinstance(call, Mapping):
            extra = f"{_text(call.get('name'))}\n{_text(call.get('arguments'))}"
        blocks.append(f"{head}\n{extra}<|end|>")
    return "\n".join(blocks)


def functions_text(functions: Sequence[Mapping[str, object]]) -> str:
    """Function definitions as Kibana counts them:
    ``<|start|>{name}\\n{description}\\n{JSON(parameters)}<|end|>``, joined with newlines."""
    blocks: list[str] = []
    for function in functions:
        if not isinstance(function, Mapping):
            continue
        params = function.get("parameters")
        params_text = "" if params is None else _json(params)
        blocks.append(
            f"<|start|>{_text(function.get('name'))}\n"
            f"{_text(function.get('description'))}\n{params_text}<|end|>"
        )
    return "\n".join(blocks)


class StreamUsageCollector:
    """Fed the raw upstream bytes as they pass through; never alters or delays them.

    Chunks are accepted as in Kibana (``object == "chat.completion.chunk"``), and also
    objects with no ``object`` field that carry ``choices``: many local servers (llama.cpp
    builds, proxies) omit it. Legacy completions' ``text_completion`` chunks count their
    ``choices[].text``. ``[DONE]`` and other objects are ignored; the final
    ``include_usage`` chunk with empty ``choices`` is used for its usage. Responses API
    events (``type: "response.*"``) count their text deltas and carry the final usage.
    """

    __slots__ = (
        "_calls",
        "_content",
        "_decoder",
        "_encoding",
        "_finished",
        "_malformed",
        "_model",
        "_other",
        "_prompt",
        "_usage",
    )

    def __init__(
        self,
        *,
        prompt: str | Sequence[str],
        model: str | None,
        encoding: str | None = None,
    ) -> None:
        """``prompt``: the prompt text (see :func:`prompt_text`), or several texts counted
        separately and summed (Kibana counts messages and functions apart)."""
        self._prompt = prompt
        self._model = model
        self._encoding = encoding
        self._decoder = SSEDecoder()
        self._content: list[str] = []  # deltas of choice 0
        self._other: list[str] = []  # deltas of further choices (n > 1)
        self._calls: list[str] = []  # tool/function call names and argument fragments
        self._usage: TokenUsage | None = None
        self._malformed = False
        self._finished: TokenUsage | None = None

    @property
    def content(self) -> str:
        """The assistant text (choice 0) seen so far."""
        return "".join(self._content)

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._finished is not None or not chunk:
            return
        try:
            for event in self._decoder.feed(chunk):
                self._event(event)
        except Exception:  # a defect here must never break the stream it watches
            self._malformed = True

    def finish(self) -> TokenUsage:
        """The usage of the stream so far; safe to call on a partial (aborted) stream and
        more than once (the first result is kept)."""
        if self._finished is None:
            try:
                pending = self._decoder.take_pending()
                if pending is not None:  # complete lines of an event left unterminated
                    self._event(pending)
            except Exception:
                self._malformed = True
            self._finished = self._result()
        return self._finished

    def estimate_texts(self) -> tuple[list[str], list[str]]:
        """What an estimate counts: the prompt texts, and the completion texts (choice 0,
        further choices, tool/function calls); for counting with another tokenizer."""
        prompts = [self._prompt] if isinstance(self._prompt, str) else list(self._prompt)
        completion = [self.content, "".join(self._other), "".join(self._calls)]
        return prompts, [text for text in completion if text]

    def _result(self) -> TokenUsage:
        if self._usage is not None:
            return self._usage
        if self._malformed:
            return TokenUsage.missing()
        encoding = self._encoding or encoding_for_model(self._model)
        prompts = [self._prompt] if isinstance(self._prompt, str) else self._prompt
        try:
            prompt_tokens = sum(count_tokens(p, encoding) for p in prompts)
            completion_tokens = count_tokens(self.content, encoding)
            if self._other:
                completion_tokens += count_tokens("".join(self._other), encoding)
            if self._calls:
                completion_tokens += count_tokens("".join(self._calls), encoding)
        except TokenizerUnavailableError:
            return TokenUsage.missing()
        return TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            usage_source="estimated",
            tokenizer=encoding,
        )

    def _event(self, event: SSEEvent) -> None:
        data = event.data
        if not data or data.strip() == "[DONE]":
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            try:  # orjson refuses lone surrogate escapes, which JSON.parse (Kibana) accepts
                obj = json.loads(data)
            except ValueError:
                self._malformed = True
                return
        if not isinstance(obj, dict):
            return
        kind = obj.get("object")
        choices = obj.get("choices")
        if (
            kind != _CHUNK_OBJECT
            and (kind is not None or choices is None)
            and kind != _TEXT_COMPLETION
        ):
            if kind is None and isinstance(obj.get("type"), str):
                self._response_event(obj)
            return
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = usage_of(usage, "stream")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                if isinstance(choice, dict):
                    self._choice(choice, position)

    def _response_event(self, event: dict[str, object]) -> None:
        """A Responses API stream event: text deltas, and the usage of the final response
        (``response.completed``, ``.incomplete`` or ``.failed``)."""
        kind = event["type"]
        if kind == "response.output_text.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._content.append(delta)
        elif kind in _RESPONSE_ENDS:
            response = event.get("response")
            usage = response.get("usage") if isinstance(response, dict) else None
            if isinstance(usage, dict):
                self._usage = usage_of(usage, "stream")

    def _choice(self, choice: dict[str, object], position: int) -> None:
        delta = choice.get("delta")
        index = choice.get("index", position)
        if not isinstance(delta, dict):
            text = choice.get("text")  # a legacy completion's chunk
            if isinstance(text, str) and text:
                (self._content if index == 0 else self._other).append(text)
            return
        content = delta.get("content")
        if isinstance(content, str) and content:
            (self._content if index == 0 else self._other).append(content)
        call = delta.get("function_call")
        if isinstance(call, dict):
            self._call(call)
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for tool_call in tool_calls:
                if isinstance(tool_call, dict):
                    function = tool_call.get("function")
                    if isinstance(function, dict):
                        self._call(function)

    def _call(self, function: dict[str, object]) -> None:
        name = function.get("name")
        if isinstance(name, str) and name:
            if self._calls:
                self._calls.append("\n")
            self._calls.append(name + "\n")
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._calls.append(arguments)
