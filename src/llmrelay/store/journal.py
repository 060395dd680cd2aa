"""The event journal: ``execute`` documents made durable before their answer is sent.

Each process writes files of its own in the journal directory (``<home>/journal``):
``<owner>.lock``, held with ``flock`` while the process lives, and segments
``<owner>.<n>.journal``. One thread does all file I/O: it takes every document appended
since its last turn, writes them with one write and one ``fdatasync`` (group commit, so
concurrent executions share the sync; in place over zero-filled space, see
:mod:`llmrelay.store.journal_files`) and resolves their futures on the event loop.

A document stays needed until the event writer has put it in the store (or in the
spool), which it reports with :meth:`Journal.release`. A segment written past
``truncate_bytes`` whose documents are all released is rewritten from its start (its next
lap); one written past ``segment_bytes`` while still needed is sealed and a new one
begun; a sealed segment is deleted once everything in it is released.
A process killed with ``SIGKILL`` loses its ``flock``: the next process to start adopts
its files (:meth:`Journal.open`), hands the documents back to its writer, and deletes
them once released. Replays are idempotent because the store ignores ``event.id``s it
holds.

Records are framed as ``magic, length, crc32(payload)`` then the JSON payload
(:mod:`llmrelay.store.journal_records`), so a record cut by a crash or damaged on disk is
detected: reading stops at a torn tail and skips a corrupt record with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from llmrelay.errors import EventLogUnavailableError
from llmrelay.store.journal_files import SegmentFile
from llmrelay.store.journal_records import read_records

logger = logging.getLogger(__name__)

Document = Mapping[str, object]

DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
DEFAULT_TRUNCATE_BYTES = 1024 * 1024
DEFAULT_RESERVE_BYTES = 256 * 1024
_LOCK_SUFFIX = ".lock"
_SEGMENT_SUFFIX = ".journal"


@dataclass(eq=False)
class _Segment:
    """A journal file (or, for an adopted owner, all of its files)."""

    paths: list[Path]
    needed: int = 0  # documents written here and not released yet
    sealed: bool = False
    lock: IO[bytes] | None = None  # an adopted owner's lock file, held until deleted


@dataclass(eq=False, slots=True)
class _Entry:
    segment: _Segment | None = None
    written: bool = False
    released: bool = False


@dataclass(eq=False)
class _Batch:
    payloads: list[bytes] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    futures: list[asyncio.Future[None]] = field(default_factory=list)

    def take(self, other: _Batch) -> None:
        """Move ``other``'s documents after these (``other`` is left empty)."""
        self.payloads += other.payloads
        self.entries += other.entries
        self.futures += other.futures
        other.payloads, other.entries, other.futures = [], [], []


class Journal:
    """One process's write-ahead journal of ``execute`` documents."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        truncate_bytes: int = DEFAULT_TRUNCATE_BYTES,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        if segment_bytes < 1 or truncate_bytes < 1 or reserve_bytes < 0:
            raise ValueError(
                "Journal needs segment_bytes >= 1, truncate_bytes >= 1 and reserve_bytes >= 0"
            )
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._truncate_bytes = min(truncate_bytes, segment_bytes)
        self._reserve_bytes = reserve_bytes
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._cond = threading.Condition(threading.Lock())
        self._pending = _Batch()  # appended in this turn of the loop
        self._ready = _Batch()  # handed to the thread by ``_wake``, not written yet
        self._doomed: list[_Segment] = []
        self._held: dict[str, _Entry] = {}
        self._current = _Segment([])
        self._sequence = 0
        self._file: SegmentFile | None = None  # the current segment's, once written to
        self._lock_file: IO[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._broken = False
        self.appended = self.failed = 0
        self.last_error: str | None = None

    # --- lifecycle (blocking: call through asyncio.to_thread) -------------------------

    def open(self, loop: asyncio.AbstractEventLoop) -> list[dict[str, object]]:
        """Take this process's lock, adopt the files of dead processes and start the
        thread. Returns the adopted documents: the caller hands them to its writer, whose
        releases then delete the adopted files."""
        self._loop = loop
        self.directory.mkdir(parents=True, exist_ok=True)
        # locked under a temporary name, then renamed: a scan never sees it unlocked
        tmp = self.directory / f".{self._owner}{_LOCK_SUFFIX}.tmp"
        self._lock_file = open(tmp, "wb")  # noqa: SIM115 - held for the journal's life
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        os.replace(tmp, self.directory / f"{self._owner}{_LOCK_SUFFIX}")
        adopted = self._adopt_orphans()
        self._thread = threading.Thread(
            target=self._run, name="llmrelay-event-journal", daemon=True
        )
        self._thread.start()
        return adopted

    def close(self) -> None:
        """Write what is pending and stop the thread; delete this process's files when
        every document in them was released (else the next start adopts them)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        if self._file is not None:
            self._file.close()
            self._file = None
        with self._cond:
            remaining = list(self._held.values())
        for entry in remaining:  # adopted files still needed: the next start adopts them
            if entry.segment is not None and entry.segment.lock is not None:
                entry.segment.lock.close()
        if any(entry.segment is None or entry.segment.lock is None for entry in remaining):
            logger.warning("event journal: unstored events kept for the next start")
        else:
            for path in self.directory.glob(f"{self._owner}.*{_SEGMENT_SUFFIX}"):
                path.unlink(missing_ok=True)
            (self.directory / f"{self._owner}{_LOCK_SUFFIX}").unlink(missing_ok=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # --- the event loop's side ----------------------------------------------------------

    def append(self, document: Document, event_id: str) -> asyncio.Future[None]:
        """Queue ``document`` for the next group write; the future resolves once it is
        on disk (``EventLogUnavailableError`` when it could not be written)."""
        assert self._loop is not None, "Journal.open() first"
        future = self._loop.create_future()
        payload = orjson.dumps(document)  # framed by the thread, which knows the lap
        with self._cond:
            if self._broken:
                future.set_exception(
                    EventLogUnavailableError.journal_unwritable(OSError("journal thread failed"))
                )
                return future
            entry = self._held.get(event_id)
            if entry is None:
                entry = self._held[event_id] = _Entry()
            pending = self._pending
            pending.payloads.append(payload)
            pending.entries.append(entry)
            pending.futures.append(future)
            first = len(pending.payloads) == 1
        if first:  # the turn's first: the thread is woken once the turn ends
            self._loop.call_soon(self._wake)
        self.appended += 1
        return future

    def _wake(self) -> None:
        """Hand what this turn of the loop appended to the thread, for one group write.
        The thread never takes a turn's appends before the turn ends: woken (or still
        busy) from the first append, it wrote a route's target's document alone, and
        contended with the loop for the GIL while the loop finished the route (~20 us)."""
        with self._cond:
            self._ready.take(self._pending)
            self._cond.notify()

    def holds(self, event_id: str) -> bool:
        """Whether a document with this id is journalled and not released yet."""
        return event_id in self._held

    def release(self, documents: Sequence[Document]) -> None:
        """The writer is done with ``documents`` (stored or spooled): their records are
        no longer needed. Documents that were never journalled are ignored."""
        held = self._held
        if not held:
            return
        with self._cond:
            wake = False
            for document in documents:
                entry = held.pop(event_id_of(document) or "", None)
                if entry is None:
                    continue
                entry.released = True
                segment = entry.segment
                if entry.written and segment is not None:
                    segment.needed -= 1
                    if segment.sealed and segment.needed == 0:
                        self._doomed.append(segment)
                        wake = True
            if wake:
                self._cond.notify()

    # --- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop_until_closed()
        except BaseException:  # a bug: fail what waits rather than hang every answer
            logger.exception("event journal thread failed")
            with self._cond:
                batch, self._ready = self._ready, _Batch()
                batch.take(self._pending)
                self._broken = True
            self._settle(batch.futures, OSError("the event journal thread failed"))
            raise

    def _loop_until_closed(self) -> None:
        while True:
            with self._cond:
                while not (self._ready.payloads or self._doomed or self._closing):
                    self._cond.wait()
                batch, self._ready = self._ready, _Batch()
                if self._closing:  # appended in a turn whose _wake will not run now
                    batch.take(self._pending)
                doomed, self._doomed = self._doomed, []
                if not batch.payloads and not doomed and self._closing:
                    return
                rewind, rotate = self._place_locked(batch)
            for segment in doomed:
                self._delete(segment)
            if batch.payloads:
                error = self._write(batch, rewind=rewind, rotate=rotate)
                self._settle(batch.futures, error)

    def _place_locked(self, batch: _Batch) -> tuple[bool, bool]:
        """Choose the segment ``batch`` goes to and count its documents there."""
        if not batch.payloads:
            return False, False
        current = self._current
        size = self._file.size if self._file is not None else 0
        rewind = size >= self._truncate_bytes and current.needed == 0
        rotate = not rewind and size >= self._segment_bytes
        if rotate:
            current.sealed = True
            self._sequence += 1
            current = self._current = _Segment([])
        for entry in batch.entries:
            if entry.written:  # a document journalled again (same id): counted once
                continue
            entry.segment, entry.written = current, True
            if not entry.released:
                current.needed += 1
        return rewind, rotate

    def _write(self, batch: _Batch, *, rewind: bool, rotate: bool) -> OSError | None:
        try:
            if self._file is None or rotate:
                self._open_segment()
            assert self._file is not None
            if rewind:
                self._file.rewind()
            self._file.append(batch.payloads)
        except OSError as exc:
            return self._failed(exc, len(batch.payloads))
        return None

    def _open_segment(self) -> None:
        path = self.directory / f"{self._owner}.{self._sequence}{_SEGMENT_SUFFIX}"
        file = SegmentFile(path, limit=self._segment_bytes, reserve=self._reserve_bytes)
        if self._file is not None:
            self._file.close()
        self._file = file
        self._current.paths.append(path)

    def _failed(self, exc: OSError, count: int) -> OSError:
        self.failed += count
        self.last_error = f"{type(exc).__name__}: {exc.strerror or exc}"
        logger.error("event journal unwritable (%s); %d answer(s) withheld", self.last_error, count)
        return exc

    def _settle(self, futures: list[asyncio.Future[None]], error: OSError | None) -> None:
        loop = self._loop
        assert loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, futures, error)

    def _delete(self, segment: _Segment) -> None:
        try:
            for path in segment.paths:
                path.unlink(missing_ok=True)
            if segment.lock is not None:
                Path(segment.lock.name).unlink(missing_ok=True)
        except OSError as exc:  # left for a later start to adopt and delete again
            logger.warning("event journal: could not delete a released file (%s)", exc.strerror)
        if segment.lock is not None:
            segment.lock.close()
            segment.lock = None

    # --- adopting the files of dead processes -------------------------------------------

    def _adopt_orphans(self) -> list[dict[str, object]]:
        adopted: list[dict[str, object]] = []
        for lock_path in sorted(self.directory.glob(f"*{_LOCK_SUFFIX}")):
            owner = lock_path.name[: -len(_LOCK_SUFFIX)]
            if owner == self._owner:
                continue
            try:
                lock = open(lock_path, "rb")  # noqa: SIM115 - held until the files are gone
            except FileNotFoundError:
                continue  # adopted and finished by another process meanwhile
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()  # alive, or being adopted by another process
                continue
            paths = sorted(self.directory.glob(f"{owner}.*{_SEGMENT_SUFFIX}"))
            documents = self._read_orphan(owner, paths)
            segment = _Segment(paths, sealed=True, lock=lock)
            with self._cond:
                for document in documents:
                    event_id = event_id_of(document)
                    if event_id is None or event_id in self._held:
                        continue
                    self._held[event_id] = _Entry(segment, written=True)
                    segment.needed += 1
                    adopted.append(document)
            if segment.needed == 0:
                self._delete(segment)
        return adopted

    def _read_orphan(self, owner: str, paths: list[Path]) -> list[dict[str, object]]:
        documents: list[dict[str, object]] = []
        for path in paths:
            result = read_records(path.read_bytes())
            documents.extend(result.documents)
            if result.corrupt:
                logger.warning(
                    "event journal %s: skipped %d corrupt record(s)", path.name, result.corrupt
                )
            if result.torn:
                logger.warning(
                    "event journal %s: the last record was cut by a crash; replayed the %d "
                    "whole record(s) before it",
                    path.name,
                    len(result.documents),
                )
        if documents:
            logger.info("event journal: replaying %d event(s) of process %s", len(documents), owner)
        return documents


def event_id_of(document: Document) -> str | None:
    """A document's ``event.id`` (what the journal and the store key on), or None."""
    event = document.get("event")
    if isinstance(event, Mapping):
        event_id = event.get("id")
        if isinstance(event_id, str):
            return event_id
    return None


def _resolve(futures: list[asyncio.Future[None]], error: OSError | None) -> None:
    for future in futures:
        if future.done():  # its caller went away (a cancelled request)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(EventLogUnavailableError.journal_unwritable(error))
