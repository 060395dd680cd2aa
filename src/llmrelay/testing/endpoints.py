"""What FakeUpstream answers on ``/embeddings`` and legacy ``/completions`` (OpenAI's
paths and Azure's deployment paths alike): pure functions, no server.

Embeddings are deterministic: :func:`embedding_vector` of each input (sha256 of the text,
or of the token ids), ``dimensions`` numbers (8 unless the request asks), as floats or, with
``encoding_format: "base64"``, little-endian float32 in base64 as OpenAI sends them. Usage:
``prompt_tokens`` = ``total_tokens`` = whitespace-separated words (token arrays: their
length). Completions reply ``"You said: <prompt>"`` per prompt (one choice each), usage
counted in words as for chat; streams send ``text_completion`` chunks, one word each.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any, Literal

import orjson

from llmrelay.testing.protocol import CREATED, DEFAULT_REPLY, error_body, words

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "completion_events",
    "embedding_vector",
    "embeddings_answer",
    "endpoint_of",
    "reply_to_prompt",
    "text_completion",
]

EMBEDDING_DIMENSIONS = 8
FakeEndpoint = Literal["embeddings", "completions", "responses"]


def endpoint_of(path: str) -> FakeEndpoint | None:
    """``embeddings`` / ``completions`` / ``responses`` for those paths (not
    ``/chat/completions``)."""
    path = path.rstrip("/")
    if path.endswith("/embeddings"):
        return "embeddings"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/completions") and not path.endswith("/chat/completions"):
        return "completions"
    return None


# ----------------------------------------------------------------------- embeddings
def embedding_vector(item: str | list[int], dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The vector the fake answers for one input: numbers in [-1, 1), 6 decimals."""
    seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
    numbers: list[float] = []
    counter = 0
    while len(numbers) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        for (value,) in struct.iter_unpack(">H", digest):
            numbers.append(round(value / 32768 - 1, 6))
        counter += 1
    return numbers[:dimensions]


def _inputs(value: object) -> list[str | list[int]] | None:
    """The inputs of ``input``: a string, strings, a token array or token arrays."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [list(value)]
    if all(isinstance(v, str) for v in value):
        return list(value)
    if all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value):
        return [list(v) for v in value]
    return None


def embeddings_answer(
    payload: dict[str, Any], model: str, *, usage: bool = True
) -> tuple[int, bytes]:
    """(status, body) of an embeddings request: the list, or a 400 naming the field."""
    inputs = _inputs(payload.get("input"))
    if inputs is None:
        message = "'input' must be a string, a list of strings or token arrays"
        return 400, error_body(message, "invalid_request_error")
    dimensions = payload.get("dimensions", EMBEDDING_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        return 400, error_body("'dimensions' must be a positive integer", "invalid_request_error")
    as_base64 = payload.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = embedding_vector(item, dimensions)
        encoded: object = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    answer: dict[str, Any] = {"object": "list", "data": data, "model": model}
    if usage:
        tokens = sum(len(i.split()) if isinstance(i, str) else len(i) for i in inputs)
        answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, orjson.dumps(answer)


# ---------------------------------------------------------------------- completions
def _prompts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return [""]


def reply_to_prompt(prompt: str) -> str:
    """The completion the fake answers for one prompt."""
    text = " ".join(prompt.split())
    return f"You said: {text}" if text else DEFAULT_REPLY


def _usage(prompts: list[str], replies: list[str]) -> dict[str, int]:
    prompt = sum(len(p.split()) for p in prompts)
    done = sum(len(r.split()) for r in replies)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def text_completion(
    completion_id: str, model: str, payload: dict[str, Any], *, usage: bool = True
) -> dict[str, Any]:
    """A ``text_completion`` answering each prompt of ``payload``."""
    prompts = _prompts(payload.get("prompt"))
    replies = [reply_to_prompt(p) for p in prompts]
    choices = [
        {"text": reply, "index": i, "logprobs": None, "finish_reason": "stop"}
        for i, reply in enumerate(replies)
    ]
    answer: dict[str, Any] = {
        "id": completion_id,
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
    }
    if usage:
        answer["usage"] = _usage(prompts, replies)
    return answer


def completion_events(
    completion_id: str, model: str, payload: dict[str, Any], include_usage: bool
) -> list[bytes]:
    """A streamed completion: one chunk per word of each reply, a ``stop`` chunk per
    choice, the usage chunk (``choices: []``) when asked for, ``[DONE]``."""
    prompts = _prompts(payload.get("prompt"))
    replies = [reply_to_prompt(p) for p in prompts]
    base = {"id": completion_id, "object": "text_completion", "created": CREATED, "model": model}

    def chunk(index: int, text: str, finish: str | None) -> dict[str, Any]:
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    objects = [chunk(i, w, None) for i, reply in enumerate(replies) for w in words(reply)]
    objects += [chunk(i, "", "stop") for i in range(len(replies))]
    if include_usage:
        objects.append({**base, "choices": [], "usage": _usage(prompts, replies)})
    events = [b"data: " + orjson.dumps(obj) + b"\n\n" for obj in objects]
    events.append(b"data: [DONE]\n\n")
    return events
