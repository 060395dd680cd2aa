"""The event journal's record format: ``magic (4) | length (4) | crc32 (4) | lap (4) | payload``.

Integers are little-endian; the CRC-32 (zlib's) covers the length, the lap and the
payload, so a damaged header is caught as surely as a damaged payload.

A journal segment is zero-filled ahead of its records and rewritten in place from the
start once every record in it is stored (see :mod:`llmrelay.store.journal`): each pass
over the file is a *lap*, numbered in its records. Reading therefore ends at zeros
(space not written yet) or at a record of another lap than the first one (what is left
of an earlier pass, stored long ago). Reading resynchronises on the next magic after a
bad record: a corrupt record in the middle costs that record only, and an incomplete
record at the end (a write cut by a crash) ends the file.

Records of the first format (``\\xa7LRJ``: no lap; files only ever appended) are still
read, so a journal left by an earlier version replays after an upgrade.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import orjson

MAGIC = b"\xa7LR2"
MAGIC_V1 = b"\xa7LRJ"
_HEADER = struct.Struct("<4sIII")  # magic, length, crc, lap
_HEADER_V1 = struct.Struct("<4sII")  # magic, length, crc
_CRC_FIELDS = struct.Struct("<II")  # length, lap
_LENGTH = struct.Struct("<I")
_UNWRITTEN = b"\0\0\0\0"
HEADER_SIZE = _HEADER.size


def encode_record(payload: bytes, lap: int = 1) -> bytes:
    """One framed record holding ``payload`` (a JSON document), written in pass ``lap``."""
    length = len(payload)
    crc = zlib.crc32(payload, zlib.crc32(_CRC_FIELDS.pack(length, lap)))
    return _HEADER.pack(MAGIC, length, crc, lap) + payload


@dataclass
class ReadResult:
    """What a journal file holds: its whole documents, and what was skipped."""

    documents: list[dict[str, object]] = field(default_factory=list)
    corrupt: int = 0  # damaged records skipped (each followed by a readable one)
    torn: bool = False  # the file ends inside a record


def read_records(data: bytes) -> ReadResult:
    """Every whole, intact record of ``data``'s current lap, in order."""
    result = ReadResult()
    position, end = 0, len(data)
    lap: int | None = None  # the lap being read: the first intact record's
    while position < end:
        if data[position : position + 4] == _UNWRITTEN:
            return result  # preallocated space: nothing was written past here
        record = _record_at(data, position)
        if record is not None:
            payload, record_lap, following = record
            if record_lap is not None:
                if lap is None:
                    lap = record_lap
                elif record_lap != lap:
                    return result  # an earlier pass over the file: stored long ago
            position = following
            document = _document(payload)
            if document is None:
                result.corrupt += 1
            else:
                result.documents.append(document)
            continue
        following = _next_magic(data, position + 1)
        if following < 0:
            result.torn = True  # nothing readable after it: a record cut by a crash
            return result
        if lap is not None and _lap_at(data, following) not in (None, lap):
            return result  # the previous lap's remains, which begin mid-record
        result.corrupt += 1
        position = following
    return result


def _lap_at(data: bytes, position: int) -> int | None:
    record = _record_at(data, position)
    return None if record is None else record[1]


def _next_magic(data: bytes, start: int) -> int:
    found = [i for i in (data.find(MAGIC, start), data.find(MAGIC_V1, start)) if i >= 0]
    return min(found, default=-1)


def _record_at(data: bytes, position: int) -> tuple[bytes, int | None, int] | None:
    """The payload and lap (None in the first format) of the intact record at
    ``position``, and where the next record starts."""
    available = len(data) - position
    magic = data[position : position + 4]
    if magic == MAGIC and available >= _HEADER.size:
        _, length, crc, lap = _HEADER.unpack_from(data, position)
        start = position + _HEADER.size
        seed = zlib.crc32(_CRC_FIELDS.pack(length, lap))
    elif magic == MAGIC_V1 and available >= _HEADER_V1.size:
        _, length, crc = _HEADER_V1.unpack_from(data, position)
        start, lap = position + _HEADER_V1.size, None
        seed = zlib.crc32(_LENGTH.pack(length))
    else:
        return None
    if start + length > len(data):
        return None
    payload = data[start : start + length]
    if zlib.crc32(payload, seed) != crc:
        return None
    return payload, lap, start + length


def _document(payload: bytes) -> dict[str, object] | None:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None
