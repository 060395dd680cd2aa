"""The event journal's record format: ``magic (4) | length (4) | crc32 (4) | payload``.

Integers are little-endian; the CRC-32 (zlib's) covers the length and the payload, so a
damaged length is caught as surely as a damaged payload. Reading resynchronises on the
next magic after a bad record: a corrupt record in the middle costs that record only,
and an incomplete record at the end (a write cut by a crash) ends the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import orjson

MAGIC = b"\xa7LRJ"
_HEADER = struct.Struct("<4sII")
_LENGTH = struct.Struct("<I")


def encode_record(payload: bytes) -> bytes:
    """One framed record holding ``payload`` (a JSON document)."""
    length = len(payload)
    crc = zlib.crc32(payload, zlib.crc32(_LENGTH.pack(length)))
    return _HEADER.pack(MAGIC, length, crc) + payload


@dataclass
class ReadResult:
    """What a journal file holds: its whole documents, and what was skipped."""

    documents: list[dict[str, object]] = field(default_factory=list)
    corrupt: int = 0  # damaged records skipped (each followed by a readable one)
    torn: bool = False  # the file ends inside a record


def read_records(data: bytes) -> ReadResult:
    """Every whole, intact record of ``data``, in order."""
    result = ReadResult()
    position, end = 0, len(data)
    while position < end:
        record = _record_at(data, position)
        if record is not None:
            payload, position = record
            document = _document(payload)
            if document is None:
                result.corrupt += 1
            else:
                result.documents.append(document)
            continue
        following = data.find(MAGIC, position + 1)
        if following < 0:
            result.torn = True  # nothing readable after it: a record cut by a crash
            return result
        result.corrupt += 1
        position = following
    return result


def _record_at(data: bytes, position: int) -> tuple[bytes, int] | None:
    """The payload of the intact record at ``position`` and where the next one starts."""
    if len(data) - position < _HEADER.size:
        return None
    magic, length, crc = _HEADER.unpack_from(data, position)
    start = position + _HEADER.size
    if magic != MAGIC or start + length > len(data):
        return None
    payload = data[start : start + length]
    if zlib.crc32(payload, zlib.crc32(_LENGTH.pack(length))) != crc:
        return None
    return payload, start + length


def _document(payload: bytes) -> dict[str, object] | None:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None
