"""Scenario 1b: sequential ``/v1/embeddings`` beside chat, against the same mock and floor.

The mock answers ``.../embeddings`` with a prebuilt embeddings list (bench/mock_upstream);
llmrelay's ``/v1/embeddings`` reaches it through the ``fast`` connector (its ``apiUrl`` ends
in ``/v1/chat/completions``, so ``/v1/embeddings`` is derived beside it). ``direct`` and the
floor are asked the same path, so the added p50 reads like chat's in scenario 1.
"""

from __future__ import annotations

import orjson

from bench.load import Request
from bench.targets import FLOOR_KEY

__all__ = ["BODY", "PATH", "TARGETS", "request_for"]

PATH = "/v1/embeddings"
TARGETS = ("direct", "floor", "relay_v1")
BODY: dict[str, object] = {
    "model": "bench-embedding",
    "input": ["The quick brown fox jumps over the lazy dog.", "Say hello to the benchmark."],
    "encoding_format": "float",
}


def request_for(target: str, port: int, key: str) -> Request:
    """The embeddings request for ``target`` (one of :data:`TARGETS`)."""
    body = dict(BODY)
    if target == "relay_v1":
        body["model"] = "fast"  # the connector; its defaultModel is sent upstream
        headers = {"Authorization": f"Bearer {key}"}
    elif target == "floor":
        headers = {"Authorization": f"Bearer {FLOOR_KEY}"}
    elif target == "direct":
        headers = {}
    else:
        raise ValueError(target)
    return Request(port, PATH, orjson.dumps(body), headers, '"object":"embedding"')
