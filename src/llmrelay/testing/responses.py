"""What FakeUpstream answers on ``/responses`` (OpenAI's Responses API, also Azure's
``/openai/v1/responses``): pure functions, no server.

The reply is chat's (``"You said: <text of the last user input>"``): ``input`` as a string
is the user's text, a list of message items is read like chat messages (``instructions``
count as prompt). Usage is counted in words as for chat, in the Responses API's names
(``input_tokens``, ``output_tokens``). Streams send OpenAI's event sequence for a text
answer, one ``response.output_text.delta`` per word, and end with ``response.completed``
(its ``response.usage`` null when usage is left out). No ``[DONE]``: the Responses API
sends none.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmrelay.testing.protocol import CREATED, content_text, reply_text, words

__all__ = ["response_answer", "response_events", "response_messages"]


def response_messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat-like messages (role and content)."""
    messages: list[dict[str, Any]] = []
    if isinstance(payload.get("instructions"), str):
        messages.append({"role": "system", "content": payload["instructions"]})
    value = payload.get("input")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    elif isinstance(value, list):
        messages += [item for item in value if isinstance(item, dict) and "role" in item]
    return messages


def _usage(messages: list[dict[str, Any]], reply: str) -> dict[str, Any]:
    prompt = sum(len(content_text(m.get("content")).split()) for m in messages)
    done = len(reply.split())
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": done,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + done,
    }


def _item(response_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": "msg_" + response_id.removeprefix("resp_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def _response(
    response_id: str,
    model: str,
    payload: dict[str, Any],
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": payload.get("previous_response_id"),
        "store": payload.get("store", True),
        "temperature": payload.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": payload.get("tools", []),
        "top_p": payload.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "metadata": payload.get("metadata", {}),
    }


def response_answer(
    response_id: str, model: str, payload: dict[str, Any], *, usage: bool = True
) -> dict[str, Any]:
    """A completed ``response`` object answering ``payload``."""
    messages = response_messages(payload)
    reply = reply_text(messages)
    output = [_item(response_id, reply, "completed")]
    return _response(
        response_id, model, payload, "completed", output, _usage(messages, reply) if usage else None
    )


def response_events(
    response_id: str, model: str, payload: dict[str, Any], *, usage: bool = True
) -> list[bytes]:
    """The streamed answer: OpenAI's event sequence, ``event:`` and ``data:`` lines."""
    messages = response_messages(payload)
    reply = reply_text(messages)
    item_id = "msg_" + response_id.removeprefix("resp_")
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    pending = _response(response_id, model, payload, "in_progress", [], None)
    done_item = _item(response_id, reply, "completed")
    final = _response(
        response_id,
        model,
        payload,
        "completed",
        [done_item],
        _usage(messages, reply) if usage else None,
    )
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": pending}),
        ("response.in_progress", {"response": pending}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": _item(response_id, "", "in_progress")},
        ),
        ("response.content_part.added", {**where, "part": part}),
    ]
    events += [
        ("response.output_text.delta", {**where, "delta": word, "logprobs": []})
        for word in words(reply)
    ]
    events += [
        ("response.output_text.done", {**where, "text": reply, "logprobs": []}),
        ("response.content_part.done", {**where, "part": {**part, "text": reply}}),
        ("response.output_item.done", {"output_index": 0, "item": done_item}),
        ("response.completed", {"response": final}),
    ]
    return [
        b"event: "
        + kind.encode()
        + b"\ndata: "
        + orjson.dumps({"type": kind, "sequence_number": number, **fields})
        + b"\n\n"
        for number, (kind, fields) in enumerate(events)
    ]
