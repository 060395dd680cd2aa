"""Dropping the injected usage chunk from SSE bytes: byte-for-byte passthrough of every
other event, whatever the chunking, line endings or spacing."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay.execution.streaming import UsageChunkStripper, is_usage_chunk
from llmrelay.testing.protocol import sse_events

USAGE = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def stream_bytes(line_ending: str = "\n", usage: dict[str, int] | None = USAGE) -> list[bytes]:
    return sse_events("chatcmpl-1", "gpt-4o", [" Hello", " there"], usage, line_ending=line_ending)


def strip(chunks: list[bytes]) -> tuple[bytes, UsageChunkStripper, list[bytes]]:
    stripper = UsageChunkStripper()
    outs = [stripper.feed(c) for c in chunks]
    outs.append(stripper.flush())
    return b"".join(outs), stripper, outs


def expected(line_ending: str = "\n") -> bytes:
    return b"".join(e for e in stream_bytes(line_ending) if b'"choices":[]' not in e)


def test_whole_events_pass_as_the_same_objects_and_usage_is_dropped() -> None:
    events = stream_bytes()
    out, stripper, outs = strip(events)
    assert out == expected()
    assert stripper.dropped == 1
    for event, sent in zip(events, outs, strict=False):
        if b'"choices":[]' not in event:
            assert sent is event  # no copy, no re-serialisation
        else:
            assert sent == b""


def test_a_stream_without_usage_chunk_is_untouched() -> None:
    events = stream_bytes(usage=None)
    joined = b"".join(events)
    out, stripper, _ = strip([joined])
    assert out == joined and stripper.dropped == 0


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_one_byte_at_a_time(line_ending: str) -> None:
    raw = b"".join(stream_bytes(line_ending))
    out, stripper, _ = strip([raw[i : i + 1] for i in range(len(raw))])
    assert out == expected(line_ending)
    assert stripper.dropped == 1


@given(
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=1, max_value=len(b"".join(stream_bytes()))), max_size=12),
)
def test_any_chunking(line_ending: str, cuts: list[int]) -> None:
    raw = b"".join(stream_bytes(line_ending))
    points = sorted({0, len(raw), *(min(c, len(raw)) for c in cuts)})
    chunks = [raw[a:b] for a, b in itertools.pairwise(points)]
    out, stripper, _ = strip(chunks)
    assert out == expected(line_ending)
    assert stripper.dropped == 1


def test_spaced_json_and_no_space_after_data_colon() -> None:
    usage_event = b'data:{"id": "x", "choices": [ ], "usage": {"total_tokens": 2}}\n\n'
    content = b'data: {"id": "x", "choices": [ {"delta": {"content": "[]"}} ]}\n\n'
    out, stripper, _ = strip([content + usage_event + b"data: [DONE]\n\n"])
    assert out == content + b"data: [DONE]\n\n"
    assert stripper.dropped == 1


def test_only_the_usage_chunk_is_dropped() -> None:
    keep = [
        b'data: {"choices": [], "usage": null}\n\n',  # no usage object
        b'data: {"choices": [{"index": 0}], "usage": {"total_tokens": 1}}\n\n',  # has choices
        b': a comment with "choices": []\n\n',
        b'data: {not json "choices":[]\n\n',
    ]
    out, stripper, _ = strip([b"".join(keep)])
    assert out == b"".join(keep) and stripper.dropped == 0


def test_an_unterminated_last_event_is_forwarded_at_the_end() -> None:
    tail = b'data: {"choices":[{"delta":{}}]}'
    assert strip([b"data: [DONE]\n\n", tail])[0] == b"data: [DONE]\n\n" + tail
    usage = b'data: {"choices":[],"usage":{"total_tokens":1}}'
    assert strip([usage])[0] == b""


def test_partial_event_with_filled_choices_is_not_held() -> None:
    stripper = UsageChunkStripper()
    head = b'data: {"id":"1","choices":[{"delta":{"content":"hi'
    assert stripper.feed(head) == head
    assert stripper.feed(b'"}}]}\n\n') == b'"}}]}\n\n'


def test_is_usage_chunk() -> None:
    event = b"data: " + orjson.dumps({"choices": [], "usage": USAGE}) + b"\n\n"
    assert is_usage_chunk(event)
    assert not is_usage_chunk(b"data: [DONE]\n\n")
