"""Append-only JSON-lines spool for events the store could not take (yet).

Layout in the spool's directory (``<home>/spool/`` by default):

- ``events.jsonl``: appended to, one document per line, flushed and fsync'd per batch.
- ``events.jsonl.replaying``: ``replay`` first renames the live file to this name, so
  later appends start a new live file, then works through it batch by batch.
- ``events.jsonl.offset``: how many bytes of the replaying file the store has taken;
  written (atomically) after each successful batch, so a failure or a crash resumes
  there. A crash between a write and its offset update replays that batch once more,
  which is harmless: the store is idempotent by ``event.id``.

Every process of a home (``serve --workers N``) appends to and replays from the same files.
An exclusive ``flock`` on the spool's directory (no lock file to leave behind) orders them:
an append holds it for its write and fsync, a replay for each batch (read from the saved
offset, write to the store, save the new offset) and for the rename and removal of the
replaying file. Between batches it is free, so appends never wait for more than one batch,
and replays of several processes take turns on the same file, each starting from the
offset on disk: nothing is lost or written twice. The lock is released by the kernel when
a process dies holding it.

A line torn by a crash mid-write is skipped with a warning. Documents are never logged
(they may hold user names); only counts are.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import orjson

logger = logging.getLogger(__name__)

WriteBatch = Callable[[Sequence[Mapping[str, object]]], Awaitable[int]]

DEFAULT_REPLAY_BATCH = 500


class Spool:
    """The on-disk overflow of the event writer; safe to share between threads and processes.

    ``pending`` counts what this process knows of: documents another process appends are
    counted when this one starts (or replays them), and ones another process replays leave
    the count when this one next finds the spool empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._replaying = path.with_name(path.name + ".replaying")
        self._offset_file = path.with_name(path.name + ".offset")
        self._lock = threading.Lock()  # guards the pending count
        self._replay_lock: asyncio.Lock | None = None
        self._pending: int | None = None

    # --- the cross-process lock -----------------------------------------------------

    def _open_directory(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The directory's flock, waiting for it (blocking: in a thread)."""
        fd = self._open_directory()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.asynccontextmanager
    async def _exclusive_async(self) -> AsyncIterator[None]:
        """The directory's flock from async code: taken at once when free, else waited
        for in a thread (another process is appending or replaying a batch)."""
        fd = self._open_directory()
        owned = True  # False once a cancelled wait hands closing the fd to its thread
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting = asyncio.get_running_loop().run_in_executor(
                    None, fcntl.flock, fd, fcntl.LOCK_EX
                )
                try:
                    await asyncio.shield(waiting)
                except asyncio.CancelledError:
                    owned = False
                    waiting.add_done_callback(lambda _: os.close(fd))
                    raise
            yield
        finally:
            if owned:
                os.close(fd)

    # --- appending ------------------------------------------------------------------

    def append(self, documents: Sequence[Mapping[str, object]]) -> None:
        """Append ``documents`` durably (one write, flush and fsync for the batch).

        Blocking: call it through ``asyncio.to_thread`` from async code. A document that
        cannot be serialised is dropped with a warning (it could never be replayed).
        """
        lines = []
        for document in documents:
            try:
                lines.append(orjson.dumps(document) + b"\n")
            except TypeError:
                logger.warning("event spool: dropped 1 document that is not JSON-serialisable")
        if not lines:
            return
        payload = b"".join(lines)
        with self._exclusive():
            self.pending()
            with open(self.path, "ab") as handle:
                # a crash (of any process) may have left a torn last line: end it so ours
                # stay whole
                if handle.tell() > 0 and _last_byte(self.path) != b"\n":
                    payload = b"\n" + payload
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            with self._lock:
                self._pending = (self._pending or 0) + len(lines)

    # --- counting -------------------------------------------------------------------

    def pending(self) -> int:
        """Spooled documents not yet replayed (torn lines included until skipped).

        The first call scans the files (blocking); later calls are a counter read.
        """
        known = self._pending
        if known is not None:
            return known
        with self._lock:
            if self._pending is None:
                total = _count_lines(self.path, 0)
                if self._replaying.exists():
                    total += _count_lines(self._replaying, self._read_offset())
                self._pending = total
            return self._pending

    def _consumed(self, lines: int) -> None:
        with self._lock:
            self._pending = max(0, (self._pending or 0) - lines)

    # --- replaying ------------------------------------------------------------------

    async def replay(
        self,
        write: WriteBatch,
        *,
        batch_size: int = DEFAULT_REPLAY_BATCH,
        max_batches: int | None = None,
    ) -> int:
        """Write spooled documents through ``write`` in batches; returns how many.

        Progress is kept after every successful batch; when ``write`` raises, the
        exception propagates and the unwritten rest stays spooled for the next call.
        ``max_batches`` bounds one call (the writer interleaves replay with live events).
        A call finishes a replaying file (its own or one another process began), and
        takes over the live file once; documents appended after that wait for the next.
        """
        if self._replay_lock is None:
            self._replay_lock = asyncio.Lock()
        budget = max_batches if max_batches is not None else -1
        may_rotate = True
        written = 0
        async with self._replay_lock:
            while budget != 0:
                async with self._exclusive_async():
                    found = await asyncio.to_thread(self._take_file, may_rotate)
                    if found is None:
                        return written
                    may_rotate = may_rotate and not found
                    offset = await asyncio.to_thread(self._read_offset)
                    documents, end, lines, torn = await asyncio.to_thread(
                        _read_batch, self._replaying, offset, batch_size
                    )
                    if lines == 0:
                        await asyncio.to_thread(self._finish_round)
                        continue
                    budget -= 1
                    if torn:
                        logger.warning(
                            "event spool: skipped %d unreadable line(s) (torn write)", torn
                        )
                    if documents:
                        await write(documents)
                        written += len(documents)
                    await asyncio.to_thread(self._save_offset, end)
                self._consumed(lines)
        return written

    def _take_file(self, may_rotate: bool) -> bool | None:
        """Under the flock: ``False`` when a replaying file exists, ``True`` when the live
        one was just renamed to it, ``None`` when there is nothing (more) to replay."""
        if self._replaying.exists():
            return False
        if not may_rotate:
            return None
        try:
            empty = self.path.stat().st_size == 0
        except FileNotFoundError:
            empty = True
        if empty:
            with self._lock:
                self._pending = 0  # nothing on disk: whatever the counter said is moot
            return None
        self._offset_file.unlink(missing_ok=True)
        os.replace(self.path, self._replaying)
        return True

    def _read_offset(self) -> int:
        try:
            return int(self._offset_file.read_text("ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            logger.warning("event spool: unreadable replay offset; replaying from the start")
            return 0

    def _save_offset(self, offset: int) -> None:
        tmp = self._offset_file.with_name(self._offset_file.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(str(offset))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._offset_file)

    def _finish_round(self) -> None:
        self._replaying.unlink(missing_ok=True)
        self._offset_file.unlink(missing_ok=True)


def _read_batch(
    path: Path, offset: int, batch_size: int
) -> tuple[list[dict[str, object]], int, int, int]:
    """Up to ``batch_size`` lines from ``offset``: (documents, end offset, lines, torn)."""
    documents: list[dict[str, object]] = []
    lines = torn = 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        while lines < batch_size:
            raw = handle.readline()
            if not raw:
                break
            lines += 1
            if not raw.strip():
                lines -= 1  # an empty line is not a document (e.g. after a torn tail)
                continue
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError:
                torn += 1
                continue
            if isinstance(document, dict):
                documents.append(document)
            else:
                torn += 1
        return documents, handle.tell(), lines, torn


def _count_lines(path: Path, offset: int) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return sum(1 for raw in handle if raw.strip())
    except FileNotFoundError:
        return 0


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)
