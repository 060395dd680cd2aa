"""The local model's ``/v1/embeddings`` shim without the model: request checks, OpenAI's
answer shape (floats and base64), token arrays, one model load; the real model answers
in tests/e2e."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import pytest

from llmrelay.cli.local_embeddings import EmbeddingsShim

Message = dict[str, Any]


class FakeModel:
    """What the shim uses of ``llama_cpp.Llama``: ``create_embedding`` and ``detokenize``."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def detokenize(self, tokens: list[int]) -> bytes:
        return " ".join(f"t{t}" for t in tokens).encode()

    def create_embedding(self, texts: list[str]) -> dict[str, Any]:
        if any("too long" in text for text in texts):
            raise ValueError("Requested tokens (3000) exceed context window of 2048")
        self.seen.append(texts)
        data = [{"embedding": [float(len(t)), 0.5, -1.0]} for t in texts]
        return {"data": data, "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}


class Inner:
    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def post(shim: EmbeddingsShim, body: object, path: str = "/v1/embeddings") -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    chunks = [raw[:5], raw[5:]]
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    asyncio.run(shim(scope, receive, send))
    status = sent[0]["status"]
    payload = sent[1]["body"]
    return status, json.loads(payload) if payload else None


def shim_with(model: FakeModel, loads: list[int] | None = None) -> tuple[EmbeddingsShim, Inner]:
    inner = Inner()

    def load() -> FakeModel:
        if loads is not None:
            loads.append(1)
        return model

    return EmbeddingsShim(inner, load, "smollm2"), inner


def test_floats_in_openais_shape_and_one_load() -> None:
    model, loads = FakeModel(), []
    shim, inner = shim_with(model, loads)
    status, answer = post(shim, {"model": "m1", "input": ["ab", "abc"]})
    post(shim, {"input": "x"})
    assert status == 200
    assert answer == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [2.0, 0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [3.0, 0.5, -1.0]},
        ],
        "model": "m1",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    assert loads == [1] and inner.paths == []


def test_base64_token_arrays_and_the_default_model_name() -> None:
    model = FakeModel()
    shim, _ = shim_with(model)
    status, answer = post(shim, {"input": [[1, 2], [3]], "encoding_format": "base64"})
    assert status == 200 and answer["model"] == "smollm2"
    assert model.seen == [["t1 t2", "t3"]]
    decoded = struct.unpack("<3f", base64.b64decode(answer["data"][0]["embedding"]))
    assert list(decoded) == [5.0, 0.5, -1.0]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"not json", None, "the body must be a JSON object"),
        ({"input": 3}, "input", "'input' must be a string, a list of strings, or token arrays"),
        ({"input": []}, "input", "'input' must be a string, a list of strings, or token arrays"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format", "'encoding_format' must"),
        ({"input": "x", "dimensions": 2}, "dimensions", "this model's embeddings have 3"),
        ({"input": "too long"}, "input", "Requested tokens (3000) exceed context window"),
    ],
)
def test_bad_requests_are_openai_errors(body: object, param: str | None, message: str) -> None:
    shim, _ = shim_with(FakeModel())
    status, answer = post(shim, body)
    assert status == 400
    assert answer["error"]["param"] == param
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["message"].startswith(message)


def test_other_requests_reach_the_server() -> None:
    shim, inner = shim_with(FakeModel())
    status, _ = post(shim, {"messages": []}, path="/v1/chat/completions")
    assert status == 204 and inner.paths == ["/v1/chat/completions"]
