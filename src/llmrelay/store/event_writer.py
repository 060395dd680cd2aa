"""The event log's single writer: a bounded queue in front of the store, a spool behind it.

The request path only calls ``submit`` (no await, no I/O, never raises). One task takes
documents from the queue in batches (``batch_size`` or ``flush_interval``, whichever
comes first) and hands them to ``write``. When the queue is full, documents go to the
spool instead (appended by a second task, off the event loop). When ``write`` fails,
the batch is spooled, later batches go straight to the spool, and every
``retry_interval`` the writer tries a replay of the spool: the first success means the
store is back. Replays are idempotent because the store deduplicates by ``event.id``;
order across queue and spool is not kept. ``write`` raising ``ValueError`` (the store's
``InvalidEventError``) rejects documents rather than signalling an outage: those alone
are dropped. Documents are never logged, only counts.

With a :class:`Journal`, ``submit_durable`` also appends the document to it and returns a
future that resolves once the journal's group write has reached the disk: the answer
waits for that, never for the store. Every batch the writer is done with (stored,
spooled, rejected) is released from the journal; documents of a journal left by a killed
process are adopted at ``start`` and go through the queue like new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

from llmrelay.errors import StoreError
from llmrelay.store.journal import Journal, event_id_of
from llmrelay.store.spool import Spool
from llmrelay.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

Document = Mapping[str, object]
WriteBatch = Callable[[Sequence[Document]], Awaitable[int]]

_REPLAY_BATCHES_PER_TURN = 4  # spool batches replayed between two live batches


class EventWriter:
    """Batches event documents into the store; spills to a ``Spool`` when it cannot."""

    def __init__(
        self,
        write: WriteBatch,
        *,
        spool: Spool,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.05,
        retry_interval: float = 1.0,
        journal: Journal | None = None,
        durable: bool = True,
    ) -> None:
        if max_queue < 1 or batch_size < 1 or flush_interval < 0 or retry_interval <= 0:
            raise ValueError(
                "EventWriter needs max_queue >= 1, batch_size >= 1, flush_interval >= 0 "
                "and retry_interval > 0"
            )
        self._write = write
        self._spool = spool
        self._journal = journal
        self._durable = durable and journal is not None
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval

        self._queue: deque[Document] = deque()
        self._overflow: list[Document] = []
        self._inflight: list[Document] = []  # the batch the writer task holds right now
        self._spilling: list[Document] = []  # the overflow the spill task holds right now
        self._work = asyncio.Event()
        self._overflow_ready = asyncio.Event()
        self._state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._tasks = BackgroundTasks()

        self._store_available = True
        self._next_replay = 0.0  # loop time of the next replay attempt
        # progress counters: flush() waits on "done" reaching what was "taken in"
        self._queued_in = self._queued_done = 0
        self._overflow_in = self._overflow_done = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

        self._written = self._inserted = self._spooled = 0
        self._replayed = self._overflowed = self._lost = self._rejected = 0
        self._last_error: str | None = None

    # --- request path ---------------------------------------------------------------

    def submit(self, document: Document) -> None:
        """Hand one event document over; never blocks, never raises.

        Call it from the event loop's thread. With the queue full the document is
        spooled instead (counted in ``stats["overflowed"]``).
        """
        try:
            if self._state == "stopped":
                self._append_now([document])
            elif len(self._queue) < self._max_queue:
                self._queue.append(document)
                self._queued_in += 1
                size = len(self._queue)
                if size == 1 or size >= self._batch_size:
                    self._work.set()
            else:
                self._overflow.append(document)
                self._overflow_in += 1
                self._overflowed += 1
                self._overflow_ready.set()
        except Exception as exc:  # the request path must not fail because of the log
            self._lost += 1
            self._last_error = _describe(exc)

    def submit_durable(self, document: Document) -> asyncio.Future[None] | None:
        """``submit``, and with a journal (durability ``answer``) a future that resolves
        once the document is on disk. Without one, or before ``start``/after ``stop``,
        None: nothing to wait for."""
        future = self.journal_only(document)
        self.submit(document)
        return future

    def journal_only(self, document: Document) -> asyncio.Future[None] | None:
        """Make ``document`` durable without queueing it: a later ``submit_durable`` of a
        final version with the same ``event.id`` queues that one and is not journalled
        again (a stream whose usage is recounted after its answer)."""
        event_id = event_id_of(document)
        if not self._durable or self._state != "running" or event_id is None:
            return None
        assert self._journal is not None
        if self._journal.holds(event_id):
            return None
        return self._journal.append(document, event_id)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer and spill tasks; spooled events of an earlier run replay."""
        if self._state != "new":
            raise RuntimeError("EventWriter.start() may be called once")
        await asyncio.to_thread(self._spool.pending)  # count the spool off the loop once
        adopted = []
        if self._journal is not None:
            adopted = await asyncio.to_thread(self._journal.open, asyncio.get_running_loop())
        self._state = "running"
        self._tasks.start(self._run_writer(), name="llmrelay-event-writer")
        self._tasks.start(self._run_spiller(), name="llmrelay-event-spiller")
        for document in adopted:
            self.submit(document)

    async def stop(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a drain deadline, not a call timeout
        """Drain the queue (to the store, else to the spool) and stop both tasks.

        Whatever is still held after ``timeout`` (a store that hangs) is spooled; the
        store deduplicates anything that also landed.
        """
        if self._state == "stopped":
            return
        self._state = "stopping"
        self._work.set()
        self._overflow_ready.set()
        for err in await self._tasks.stop(drain=timeout):
            self._last_error = _describe(err)
            logger.error("event writer task failed: %s", self._last_error)
        leftover = [*self._inflight, *self._spilling, *self._queue, *self._overflow]
        self._queued_done += len(self._queue)
        self._overflow_done += len(self._overflow)
        self._inflight, self._spilling, self._overflow = [], [], []
        self._queue.clear()
        if leftover:
            await self._spill(leftover)
        self._state = "stopped"
        if self._journal is not None:
            await asyncio.to_thread(self._journal.close)
        self._notify(final=True)

    async def flush(self) -> None:
        """Wait until everything submitted so far is in the store or in the spool."""
        if self._state == "new":
            raise RuntimeError("EventWriter is not started")
        if self._state == "stopped" or self._caught_up(self._queued_in, self._overflow_in):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._queued_in, self._overflow_in, future))
        await future

    async def replay_now(self) -> int:
        """Replay the whole spool now (ops and tests); returns how many were written."""
        replayed = await self._spool.replay(self._write_valid, batch_size=self._batch_size)
        self._replayed += replayed
        self._store_available = True
        return replayed

    @property
    def stats(self) -> dict[str, object]:
        """Counters for ``/api/status``: how the event log is keeping up."""
        return {
            "queued": len(self._queue) + len(self._overflow),
            "written": self._written,
            "inserted": self._inserted,
            "spooled": self._spooled,
            "overflowed": self._overflowed,
            "replayed": self._replayed,
            "spool_pending": self._spool.pending(),
            "lost": self._lost,
            "rejected": self._rejected,
            "store_available": self._store_available,
            "last_error": self._last_error,
            "journal_failed": self._journal.failed if self._journal is not None else 0,
        }

    # --- the writer task ------------------------------------------------------------

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if (
                self._state == "running"
                and self._spool.pending()
                and loop.time() >= self._next_replay
            ):
                await self._replay_some(loop.time())
            if not self._queue:
                if self._state == "stopping":
                    return
                await self._wait_for_work(loop)
                continue
            if len(self._queue) < self._batch_size and self._state != "stopping":
                await self._coalesce(loop)
            count = min(self._batch_size, len(self._queue))
            self._inflight = [self._queue.popleft() for _ in range(count)]
            await self._deliver(self._inflight)
            self._inflight = []
            self._queued_done += count
            self._notify()

    async def _wait_for_work(self, loop: asyncio.AbstractEventLoop) -> None:
        self._work.clear()
        if self._queue or self._state == "stopping":
            return
        timeout = max(0.0, self._next_replay - loop.time()) if self._spool.pending() else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._work.wait()

    async def _coalesce(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait up to ``flush_interval`` for a full batch."""
        deadline = loop.time() + self._flush_interval
        while len(self._queue) < self._batch_size and self._state != "stopping":
            self._work.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._work.wait()
            except TimeoutError:
                return

    async def _write_valid(self, batch: Sequence[Document]) -> int:
        """``write``, bisecting a batch the store rejects (``ValueError``) to drop only
        the invalid documents: a poison document must not look like an outage."""
        try:
            return await self._write(batch)
        except ValueError as exc:
            if len(batch) > 1:
                half = len(batch) // 2
                return await self._write_valid(batch[:half]) + await self._write_valid(batch[half:])
            self._rejected += 1
            self._last_error = _describe(exc)
            logger.warning("event store rejected 1 document (%s); dropped", self._last_error)
            return 0

    async def _deliver(self, batch: list[Document]) -> None:
        if self._store_available:
            try:
                self._inserted += await self._write_valid(batch)
            except Exception as exc:
                self._store_down(exc, len(batch))
            else:
                self._written += len(batch)
                if self._journal is not None:
                    self._journal.release(batch)
                return
        await self._spill(batch)

    async def _replay_some(self, now: float) -> None:
        try:
            replayed = await self._spool.replay(
                self._write_valid,
                batch_size=self._batch_size,
                max_batches=_REPLAY_BATCHES_PER_TURN,
            )
        except Exception as exc:
            self._store_down(exc, 0)
            return
        self._replayed += replayed
        if not self._store_available:
            self._store_available = True
            logger.info("event store available again; replaying the spool")
        if replayed == 0:
            self._next_replay = now + self._retry_interval

    def _store_down(self, exc: Exception, batch: int) -> None:
        self._last_error = _describe(exc)
        self._next_replay = asyncio.get_running_loop().time() + self._retry_interval
        if self._store_available:
            logger.warning(
                "event store unavailable (%s); spooling events (%d in this batch)",
                self._last_error,
                batch,
            )
        self._store_available = False

    # --- the spill task -------------------------------------------------------------

    async def _run_spiller(self) -> None:
        while True:
            if not self._overflow:
                if self._state == "stopping":
                    return
                self._overflow_ready.clear()
                await self._overflow_ready.wait()
                continue
            self._spilling, self._overflow = self._overflow, []
            await self._spill(self._spilling)
            self._overflow_done += len(self._spilling)
            self._spilling = []
            self._notify()
            self._work.set()  # the writer may be idle: the spool now needs a replay

    async def _spill(self, documents: Sequence[Document]) -> None:
        try:
            await asyncio.to_thread(self._spool.append, documents)
        except OSError as exc:
            self._lost += len(documents)
            self._last_error = _describe(exc)
            logger.error("event spool unwritable (%s); lost %d events", exc, len(documents))
        else:
            self._spooled += len(documents)
            if self._journal is not None:
                self._journal.release(documents)

    def _append_now(self, documents: Sequence[Document]) -> None:
        """After ``stop``: no task is left, so append synchronously (rare, not hot)."""
        try:
            self._spool.append(documents)
        except OSError as exc:
            self._lost += len(documents)
            self._last_error = _describe(exc)
        else:
            self._spooled += len(documents)

    # --- flush bookkeeping ----------------------------------------------------------

    def _caught_up(self, queued: int, overflowed: int) -> bool:
        return self._queued_done >= queued and self._overflow_done >= overflowed

    def _notify(self, *, final: bool = False) -> None:
        waiting = []
        for queued, overflowed, future in self._waiters:
            if future.done():
                continue
            if final or self._caught_up(queued, overflowed):
                future.set_result(None)
            else:
                waiting.append((queued, overflowed, future))
        self._waiters = waiting


def _describe(exc: BaseException | None) -> str:
    """A loggable description: our store errors carry safe messages, others only a type.

    Driver messages may quote statement parameters (document contents), so they are
    not repeated.
    """
    if isinstance(exc, StoreError | OSError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__
