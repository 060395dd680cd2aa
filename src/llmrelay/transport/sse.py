"""Incremental Server-Sent Events decoder (WHATWG EventSource parsing rules).

Runs on every streamed byte, so it works on bytes, splits with C-level helpers and
decodes only complete lines; no per-byte Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    ``id`` is the stream's last event ID at dispatch time (it persists across events, as
    in EventSource; ``None`` until set, and after an empty ``id:`` resets it). ``retry`` is
    the reconnection time given inside this event's block, if any.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed raw bytes as they arrive; get back the events they complete.

    Line ends may be ``\\r\\n``, ``\\n`` or ``\\r`` (a ``\\r`` ending one chunk and a ``\\n``
    starting the next are one line end). Invalid UTF-8 is replaced, never raised.
    """

    __slots__ = (
        "_bom_checked",
        "_cr_pending",
        "_data",
        "_event",
        "_last_id",
        "_partial",
        "_retry",
        "retry",
    )

    def __init__(self) -> None:
        self._partial = bytearray()  # bytes of an unterminated line
        self._cr_pending = False  # the last byte seen ended a line with "\r"
        self._bom_checked = False
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self._last_id: str | None = None
        self.retry: int | None = None
        """The latest reconnection time (ms) the stream asked for."""

    @property
    def pending_data(self) -> bool:
        """True when bytes or data lines await an event end (a truncated stream at EOF)."""
        return bool(self._partial) or bool(self._data)

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[SSEEvent]:
        if not chunk:
            return []
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        if self._cr_pending:
            self._cr_pending = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        if not self._bom_checked:
            head = bytes(self._partial) + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._partial[:] = head
                return []
            self._bom_checked = True
            self._partial.clear()
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
            if not chunk:
                return []
        if b"\n" not in chunk and b"\r" not in chunk:
            self._partial += chunk
            return []
        if self._partial:
            self._partial += chunk
            buf = bytes(self._partial)
            self._partial.clear()
        else:
            buf = chunk
        # bytes.splitlines breaks on exactly \r\n, \n and \r: the SSE line ends.
        lines = buf.splitlines(keepends=True)
        last = lines[-1]
        tail = last[-1:]
        if tail == b"\r":
            self._cr_pending = True
        elif tail != b"\n":
            self._partial += lines.pop()
        events: list[SSEEvent] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r\n"), events)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: per the spec an unterminated event is dropped, so nothing is
        dispatched; check :attr:`pending_data` first to notice a truncated stream."""
        return []

    def take_pending(self) -> SSEEvent | None:
        """For lenient callers at end of stream: the unterminated event built from the
        *complete* data lines seen since the last dispatch (a partial line is discarded).
        Clears the pending state."""
        self._partial.clear()
        if not self._data:
            return None
        return self._dispatch()

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._last_id,
            retry=self._retry,
        )
        self._data = []
        self._event = ""
        self._retry = None
        return event

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                events.append(self._dispatch())
            else:
                self._event = ""
                self._retry = None
            return
        if raw[:5] == b"data:":  # the hot path
            value = raw[6:] if raw[5:6] == b" " else raw[5:]
            self._data.append(value.decode("utf-8", "replace"))
            return
        if raw[:1] == b":":
            return
        name, colon, value = raw.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":  # "data" without a colon: an empty data line
            self._data.append("")
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace") or None
        elif name == b"retry" and value.isdigit():  # b"".isdigit() is False
            self._retry = self.retry = int(value)
