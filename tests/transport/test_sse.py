"""The incremental SSE decoder against hand-cut chunks and a split-anywhere property."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.transport.sse import SSEDecoder, SSEEvent
from tests.helpers.soak import scaled


def decode(chunks: Iterable[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    return events


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


OPENAI_STREAM = (
    b'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"Hi"}}]}\n\n'
    b'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":'
    b'" \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"}}]}\n\n'
    b"data: [DONE]\n\n"
)


def test_whole_openai_stream() -> None:
    events = decode([OPENAI_STREAM])
    assert [e.data for e in events] == [
        '{"object":"chat.completion.chunk","choices":[{"delta":{"content":"Hi"}}]}',
        '{"object":"chat.completion.chunk","choices":[{"delta":{"content":" été 😀"}}]}',
        "[DONE]",
    ]
    assert all(e.event == "message" and e.id is None and e.retry is None for e in events)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_split_mid_line_and_mid_utf8(size: int) -> None:
    assert decode(split_every(OPENAI_STREAM, size)) == decode([OPENAI_STREAM])


def test_split_inside_a_multibyte_character() -> None:
    emoji = "😀".encode()
    chunks = [b"data: a" + emoji[:1], emoji[1:3], emoji[3:] + b"b\n", b"\n"]
    assert decode(chunks) == [SSEEvent(data="a😀b")]


def test_events_are_returned_as_soon_as_complete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.pending_data
    assert decoder.feed(b"\ndata: tw") == [SSEEvent(data="one")]
    assert decoder.feed(b"o\n\n") == [SSEEvent(data="two")]
    assert not decoder.pending_data


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_all_line_ends(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert decode([stream]) == [SSEEvent(data="a\nb"), SSEEvent(data="c")]
    assert decode(split_every(stream, 1)) == [SSEEvent(data="a\nb"), SSEEvent(data="c")]


def test_cr_then_lf_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    # If "\r" | "\n" counted as two line ends, this "\n" would dispatch the event.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: y\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(data="x\ny")]  # "\n" ends "y", "\r" blank
    assert decoder.feed(b"\n") == []  # completes that "\r": no further line


def test_cr_then_other_bytes_across_chunks() -> None:
    assert decode([b"data: x\r", b"\r", b"data: y\r", b"\r"]) == [
        SSEEvent(data="x"),
        SSEEvent(data="y"),
    ]


def test_comments_and_unknown_fields_are_ignored() -> None:
    stream = b": keep-alive\n\n:another\ndata: a\nfoo: bar\n: mid-event comment\n\n"
    assert decode([stream]) == [SSEEvent(data="a")]


def test_field_value_spacing_and_no_colon() -> None:
    stream = b"data:no-space\ndata:  two-spaces\ndata\ndata:\n\n"
    assert decode([stream]) == [SSEEvent(data="no-space\n two-spaces\n\n")]


def test_empty_data_line_dispatches_an_empty_event() -> None:
    assert decode([b"data:\n\n"]) == [SSEEvent(data="")]
    assert decode([b"event: ping\n\n"]) == []  # no data: nothing dispatched


def test_event_type_resets_after_dispatch() -> None:
    stream = b"event: delta\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"
    assert decode([stream]) == [
        SSEEvent(data="1", event="delta"),
        SSEEvent(data="2"),
        SSEEvent(data="3"),
    ]


def test_event_type_of_an_undispatched_block_is_discarded() -> None:
    assert decode([b"event: lost\n\ndata: x\n\n"]) == [SSEEvent(data="x")]


def test_id_persists_and_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid: bad\x00id\ndata: c\n\nid\ndata: d\n\n"
    events = decode([stream])
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", None)]


def test_retry_digits_only() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 3000\ndata: a\n\nretry: 12a\ndata: b\n\nretry:\ndata: c\n\n")
    assert [(e.data, e.retry) for e in events] == [("a", 3000), ("b", None), ("c", None)]
    assert decoder.retry == 3000
    assert decoder.feed(b"retry: 50\n\n") == []
    assert decoder.retry == 50


def test_leading_bom_stripped_once() -> None:
    bom = b"\xef\xbb\xbf"
    assert decode([bom + b"data: a\n\n"]) == [SSEEvent(data="a")]
    assert decode([bom[:1], bom[1:2], bom[2:] + b"data: a\n\n"]) == [SSEEvent(data="a")]
    # A second BOM is data: it makes the field name "\ufeffdata", which is unknown.
    assert decode([bom + bom + b"data: a\n\n"]) == []
    # A lone BOM prefix that turns out not to be a BOM is kept as bytes of the line.
    assert decode([b"\xef", b"data: a\n\n"]) == []


def test_bom_only_at_stream_start() -> None:
    assert decode([b"data: \xef\xbb\xbfa\n\n"]) == [SSEEvent(data="\ufeffa")]


def test_invalid_utf8_is_replaced() -> None:
    assert decode([b"data: a\xff\xfeb\xe2\x82\n\n"]) == [SSEEvent(data="a\ufffd\ufffdb\ufffd")]
    assert decode([b"event: \xc0x\ndata: 1\n\n"]) == [SSEEvent(data="1", event="\ufffdx")]


def test_unterminated_event_is_dropped_at_end_of_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [SSEEvent(data="a")]
    assert decoder.flush() == []
    assert decoder.pending_data


def test_partial_line_is_pending_data() -> None:
    decoder = SSEDecoder()
    decoder.feed(b'data: {"cho')
    assert decoder.pending_data
    assert decoder.flush() == []


def test_take_pending_uses_only_complete_lines() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"event: x\ndata: a\ndata: b\ndata: partial")
    assert decoder.take_pending() == SSEEvent(data="a\nb", event="x")
    assert not decoder.pending_data
    assert decoder.take_pending() is None


def test_empty_chunks_and_buffer_types() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(bytearray(b"data: a\n")) == []
    assert decoder.feed(b"") == []
    assert decoder.feed(memoryview(b"\n")) == [SSEEvent(data="a")]


def test_long_line_in_tiny_chunks() -> None:
    payload = "x" * 100_000
    stream = f"data: {payload}\n\n".encode()
    assert decode(split_every(stream, 10)) == [SSEEvent(data=payload)]


# --- property: splitting never changes the result ----------------------------------------

_line_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=20
)
_event = st.fixed_dictionaries(
    {
        "data": st.lists(_line_text, min_size=1, max_size=4),
        "event": st.one_of(st.none(), _line_text),
        "id": st.one_of(st.none(), _line_text.filter(lambda s: "\x00" not in s)),
        "retry": st.one_of(st.none(), st.integers(0, 10**9)),
        "comment": st.one_of(st.none(), _line_text),
    }
)
_eol = st.sampled_from([b"\n", b"\r\n", b"\r"])


def _lines(ev: dict[str, object]) -> list[bytes]:
    out: list[bytes] = []
    if ev["comment"] is not None:
        out.append(b":" + str(ev["comment"]).encode())
    if ev["event"] is not None:
        out.append(b"event: " + str(ev["event"]).encode())
    if ev["id"] is not None:
        out.append(b"id: " + str(ev["id"]).encode())
    if ev["retry"] is not None:
        out.append(b"retry: " + str(ev["retry"]).encode())
    data = ev["data"]
    assert isinstance(data, list)
    out.extend(b"data: " + str(line).encode() for line in data)
    return out


@settings(max_examples=scaled(300), deadline=None)
@given(
    events=st.lists(_event, max_size=6),
    bom=st.booleans(),
    parts=st.data(),
)
def test_any_split_decodes_like_one_piece(
    events: list[dict[str, object]], bom: bool, parts: st.DataObject
) -> None:
    stream = bytearray(b"\xef\xbb\xbf" if bom else b"")
    expected: list[SSEEvent] = []
    last_id: str | None = None

    def eol() -> bytes:
        drawn = parts.draw(_eol)
        # "\r" then "\n" would be one line end: keep the intended number of lines.
        return b"\r\n" if drawn == b"\n" and stream.endswith(b"\r") else drawn

    for ev in events:
        for line in _lines(ev):
            stream += line + eol()
        stream += eol()
        if ev["id"] is not None:
            last_id = str(ev["id"]) or None
        data = ev["data"]
        assert isinstance(data, list)
        expected.append(
            SSEEvent(
                data="\n".join(str(d) for d in data),
                event=str(ev["event"] or "message"),
                id=last_id,
                retry=ev["retry"] if isinstance(ev["retry"], int) else None,
            )
        )
    whole = bytes(stream)
    cuts = sorted(parts.draw(st.lists(st.integers(0, len(whole)), max_size=12)))
    chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    assert decode([whole]) == expected
    assert decode(chunks) == expected
