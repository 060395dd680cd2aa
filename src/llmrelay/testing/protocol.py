"""The OpenAI chat-completions wire shapes the fake answers with: pure functions, no server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

__all__ = [
    "BAD_JSON",
    "CREATED",
    "DEFAULT_REPLY",
    "FINGERPRINT",
    "MALFORMED_LINE",
    "RecordedRequest",
    "completion",
    "content_text",
    "default_error_type",
    "error_body",
    "error_payload",
    "huge_completion",
    "model_of",
    "models_listing",
    "reply_text",
    "sse_events",
    "usage_for",
    "wants_usage",
    "words",
]

CREATED = 1_735_689_600  # fixed `created` of every answer (2025-01-01T00:00:00Z)
DEFAULT_REPLY = "Hello! How can I help you today?"
MALFORMED_LINE = b"data: {not json"
FINGERPRINT = "fp_llmrelay_fake"
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_WORDS = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received: header names lower-cased (a repeated header keeps its last
    value), ``query`` decoded (last value wins), ``body`` the exact bytes, ``client_port`` the
    TCP port of the peer (equal for requests sent over one kept-alive connection)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_port: int

    @property
    def json(self) -> object | None:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            parsed: object = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return parsed


# ------------------------------------------------------------------- request reading
def content_text(content: object) -> str:
    """The text of a message's ``content``: a string, or the ``text`` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}, ...]
        texts = (part.get("text") for part in content if isinstance(part, dict))
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def model_of(payload: dict[str, Any], default: str) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) and model else default


def reply_text(messages: object) -> str:
    """The default reply to a request whose ``messages`` is given."""
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                text = " ".join(content_text(message.get("content")).split())
                return f"You said: {text}" if text else DEFAULT_REPLY
    return DEFAULT_REPLY


def usage_for(messages: object, completion: str) -> dict[str, int]:
    """Usage numbers reported for ``messages`` answered with ``completion`` (word counts)."""
    prompt = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                prompt += len(content_text(message.get("content")).split())
    done = len(completion.split())
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def words(reply: str) -> list[str]:
    """``reply`` cut into stream deltas, one word each with its leading whitespace."""
    return _WORDS.findall(reply)


# ------------------------------------------------------------------------ answers
def error_body(message: str, error_type: str) -> bytes:
    error = {"message": message, "type": error_type, "param": None, "code": None}
    return orjson.dumps({"error": error})


def default_error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status >= 500:
        return "server_error"
    return "requests" if status == 429 else "invalid_request_error"


def error_payload(status: int, error: object, error_type: str | None = None) -> bytes:
    """The body of a scripted error; see :meth:`FakeUpstream.fail`."""
    if error is None:
        try:
            error = HTTPStatus(status).phrase
        except ValueError:
            error = "Error"
    if isinstance(error, str):
        return error_body(error, error_type or default_error_type(status))
    return error if isinstance(error, bytes) else orjson.dumps(error)


def models_listing(model: str) -> bytes:
    entry = {"id": model, "object": "model", "created": CREATED, "owned_by": "llmrelay"}
    return orjson.dumps({"object": "list", "data": [entry]})


def completion(
    completion_id: str, model: str, reply: str, usage: dict[str, int] | None
) -> dict[str, Any]:
    """A ``chat.completion`` answering ``reply``; ``usage`` None leaves the field out."""
    answer: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "system_fingerprint": FINGERPRINT,
    }
    if usage is not None:
        answer["usage"] = usage
    return answer


def huge_completion(model: str, size_bytes: int) -> bytes:
    """A valid ``chat.completion`` JSON of exactly ``size_bytes`` bytes (content padded)."""
    template = orjson.dumps(
        {
            "id": "chatcmpl-fake-huge",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ""},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )
    padding = size_bytes - len(template)
    if padding < 0:
        raise ValueError(f"size_bytes must be at least {len(template)}")
    head, tail = template.split(b'"content":""', 1)
    return head + b'"content":"' + b"a" * padding + b'"' + tail


def sse_events(
    completion_id: str,
    model: str,
    deltas: list[str],
    usage: dict[str, int] | None,
    *,
    malformed_line: bool = False,
    line_ending: str = "\n",
) -> list[bytes]:
    """The SSE events of a streamed completion: role chunk, one chunk per delta, a ``stop``
    chunk, the usage chunk (only when ``usage`` is given; every other chunk then carries
    ``"usage": null`` as OpenAI does) and ``[DONE]``."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        out = {**base, "choices": [choice]}
        if usage is not None:
            out["usage"] = None
        return out

    objects = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    objects += [chunk({"content": delta}, None) for delta in deltas]
    objects.append(chunk({}, "stop"))
    if usage is not None:
        objects.append({**base, "choices": [], "usage": usage})
    end = (line_ending * 2).encode()
    events = [b"data: " + orjson.dumps(obj) + end for obj in objects]
    if malformed_line:
        events.insert(1, MALFORMED_LINE + end)
    events.append(b"data: [DONE]" + end)
    return events
