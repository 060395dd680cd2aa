"""``POST /v1/embeddings`` for the local model, from the same llama.cpp runtime and file.

llama-cpp-python's server embeds only with a model loaded with ``embedding=True``, which
makes its generation about six times slower here, and its model proxy holds one model at
a time (a second model entry would reload the file at every switch between chat and
embeddings). So a second llama.cpp context on the same GGUF file (memory-mapped, so
shared), made on the first embeddings request with embeddings on and mean pooling
(SmolLM2 has no pooling of its own: without it llama.cpp answers one vector per token),
answers ``/v1/embeddings`` in front of the server, in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "EMBEDDINGS_PATH",
    "ASGIApp",
    "EmbeddingsShim",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "json_response",
    "read_body",
]

EMBEDDINGS_PATH = "/v1/embeddings"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def json_response(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


def _error(message: str, param: str | None = None) -> dict[str, object]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }


def _inputs(value: object) -> list[str | list[int]] | None:
    """``input``: a string, strings, a token array or token arrays; None for anything else."""
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


class EmbeddingsShim:
    """Answers ``POST /v1/embeddings`` with ``load()``'s llama.cpp context (made once, on
    first use); everything else goes to ``app``. One embedding request at a time."""

    def __init__(self, app: ASGIApp, load: Callable[[], Any], model_alias: str) -> None:
        self.app = app
        self._load = load
        self._model: Any = None
        self._alias = model_alias
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != EMBEDDINGS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            payload = json.loads(await read_body(receive))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            await json_response(send, 400, _error("the body must be a JSON object"))
            return
        status, answer = await self._answer(payload)
        await json_response(send, status, answer)

    async def _answer(self, payload: dict[str, Any]) -> tuple[int, dict[str, object]]:
        inputs = _inputs(payload.get("input"))
        if inputs is None:
            message = "'input' must be a string, a list of strings, or token arrays"
            return 400, _error(message, "input")
        encoding = payload.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return 400, _error("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        async with self._lock:
            try:
                result = await asyncio.to_thread(self._embed, inputs)
            except ValueError as err:  # llama-cpp-python's word for input it cannot take
                return 400, _error(str(err), "input")
        vectors: list[list[float]] = [item["embedding"] for item in result["data"]]
        dimensions = payload.get("dimensions")
        if dimensions is not None and dimensions != len(vectors[0]):
            message = f"this model's embeddings have {len(vectors[0])} dimensions only"
            return 400, _error(message, "dimensions")
        data = [
            {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding)}
            for index, vector in enumerate(vectors)
        ]
        model = payload.get("model")
        return 200, {
            "object": "list",
            "data": data,
            "model": model if isinstance(model, str) and model else self._alias,
            "usage": result["usage"],
        }

    def _embed(self, inputs: list[str | list[int]]) -> dict[str, Any]:
        """Runs in a worker thread (llama.cpp blocks)."""
        if self._model is None:
            self._model = self._load()
        model = self._model
        texts = [
            item
            if isinstance(item, str)
            else model.detokenize(item).decode("utf-8", errors="replace")
            for item in inputs
        ]
        result: dict[str, Any] = model.create_embedding(texts)
        return result


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """``base64``: little-endian float32, as OpenAI sends (and its SDKs ask for)."""
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
