"""A journal segment open for writing: framed records written in place over zero-filled space.

Appending to a file makes every ``fdatasync`` commit the file's new size too (on ext4 a
file-system journal commit, about a third of the sync's cost); a write inside space that
already exists commits data only. So a segment is zero-filled ``reserve`` bytes ahead of
its write position (never past ``limit`` unless a single batch needs it), the zeros synced
with the batch that needed them, and the records written over them. Rewinding starts the
next *lap* at the file's start; records carry their lap (see
:mod:`llmrelay.store.journal_records`), so a reader stops where the previous lap's remains
begin. Without room to reserve (a full disk), a batch extends the file by its own size.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from llmrelay.store.journal_records import HEADER_SIZE, encode_record

__all__ = ["SegmentFile", "sync_directory"]


class SegmentFile:
    """The segment a journal's thread writes (not thread-safe: that thread only)."""

    def __init__(self, path: Path, *, limit: int, reserve: int) -> None:
        self.path = path
        self._limit = limit
        self._reserve = reserve
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            sync_directory(path.parent)  # the new file's name survives a power cut too
        except OSError:
            os.close(self._fd)
            raise
        self.size = 0  # the write position: where this lap's records end
        self._allocated = 0  # bytes of the file that exist (zeros past ``size``)
        self.lap = 1

    def rewind(self) -> None:
        """Write the next records from the start (everything written so far is stored)."""
        self.size, self.lap = 0, self.lap + 1

    def append(self, payloads: list[bytes]) -> None:
        """Frame ``payloads``, write them after this lap's records and make them durable
        (one write, one ``fdatasync``). On ``OSError`` no part of them can be read back."""
        start, allocated = self.size, self._allocated
        data = b"".join([encode_record(payload, self.lap) for payload in payloads])
        end = start + len(data)
        try:
            self._zero_fill_to(end)
            _pwrite_all(self._fd, data, start)
            _datasync(self._fd)
        except OSError:
            self._undo(start, allocated)
            raise
        self.size = end
        self._allocated = max(self._allocated, end)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _zero_fill_to(self, end: int) -> None:
        if end <= self._allocated:
            return
        target = max(end, min(self._limit, self._allocated + self._reserve))
        try:
            _pwrite_all(self._fd, bytes(target - self._allocated), self._allocated)
        except OSError:  # no room ahead: give the space back, the batch may still fit
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._allocated)
            return
        self._allocated = target

    def _undo(self, start: int, allocated: int) -> None:
        """Drop what the failed write added; zeros where it began end the lap there."""
        self._allocated = allocated
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, allocated)
            if start < allocated:
                _pwrite_all(self._fd, bytes(min(HEADER_SIZE, allocated - start)), start)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
"""Flush a file's data (and what finding it needs, such as its size) to the disk."""


def sync_directory(directory: Path) -> None:
    """Make the names in ``directory`` (a file just created) survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
