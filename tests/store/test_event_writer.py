"""EventWriter: batching, queue overflow, outages, draining; every event lands exactly once."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrelay.errors import StoreError
from llmrelay.store.event_writer import EventWriter
from llmrelay.store.spool import Spool
from tests.helpers.soak import scaled


def _doc(i: int) -> dict[str, object]:
    return {"event": {"id": f"e{i}", "action": "execute"}, "user": {"name": f"user-{i}"}}


class FakeStore:
    """Keeps documents by ``event.id`` (as the real repository does) and counts deliveries.

    ``down`` makes every write fail; ``schedule`` scripts the outcome of successive
    calls: ``"ok"``, ``"fail"`` (nothing lands) or ``"half"`` (half lands, then it fails).
    """

    def __init__(self, schedule: Sequence[str] = ()) -> None:
        self.rows: dict[str, Mapping[str, object]] = {}
        self.inserts: Counter[str] = Counter()
        self.batches: list[int] = []
        self.down = False
        self.schedule = list(schedule)
        self.delay = 0.0

    async def write(self, documents: Sequence[Mapping[str, object]]) -> int:
        if self.delay:
            await asyncio.sleep(self.delay)
        outcome = self.schedule.pop(0) if self.schedule else "ok"
        if self.down or outcome == "fail":
            raise StoreError("database unavailable")
        landing = documents[: len(documents) // 2] if outcome == "half" else documents
        new = 0
        for document in landing:
            event = document["event"]
            assert isinstance(event, Mapping)
            event_id = event["id"]
            if not isinstance(event_id, str) or not event_id:
                raise ValueError("event document without a string event.id")
            if event_id not in self.rows:
                self.rows[event_id] = document
                self.inserts[event_id] += 1
                new += 1
        self.batches.append(len(landing))
        if outcome == "half":
            raise StoreError("connection reset")
        return new

    def assert_exactly(self, count: int) -> None:
        assert set(self.rows) == {f"e{i}" for i in range(count)}
        assert all(n == 1 for n in self.inserts.values())


async def _settle(writer: EventWriter, spool: Spool, *, within: float = 10.0) -> None:
    """Wait until everything submitted is written and the spool has been replayed."""
    await writer.flush()
    deadline = time.monotonic() + within
    while spool.pending() or writer.stats["queued"]:
        assert time.monotonic() < deadline, writer.stats
        await asyncio.sleep(0.005)


def _tear(path: Path, partial: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(partial)


def _writer(store: FakeStore, spool: Spool, **kwargs: float) -> EventWriter:
    options: dict[str, float] = {"flush_interval": 0.005, "retry_interval": 0.01, **kwargs}
    return EventWriter(store.write, spool=spool, **options)  # type: ignore[arg-type]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool" / "events.jsonl")


async def test_all_events_arrive_exactly_once_in_batches(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool, batch_size=50, flush_interval=0.05)
    await writer.start()
    for i in range(1000):
        writer.submit(_doc(i))
    await writer.flush()
    store.assert_exactly(1000)
    assert max(store.batches) == 50 and len(store.batches) >= 20
    stats = writer.stats
    assert stats["written"] == 1000 and stats["inserted"] == 1000
    assert stats["spooled"] == 0 and stats["queued"] == 0 and stats["last_error"] is None
    await writer.stop()


async def test_small_trickle_is_flushed_by_the_interval(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool, batch_size=500, flush_interval=0.02)
    await writer.start()
    writer.submit(_doc(0))
    writer.submit(_doc(1))
    await asyncio.sleep(0.2)
    store.assert_exactly(2)
    assert store.batches == [2]
    await writer.stop()


async def test_queue_full_spools_and_never_blocks(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool, max_queue=100, batch_size=100)
    await writer.start()
    started = time.perf_counter()
    for i in range(100_000):
        writer.submit(_doc(i))
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # no I/O, no waiting on the request path
    assert writer.stats["overflowed"] == 100_000 - 100
    await _settle(writer, spool, within=60)
    await writer.stop()
    store.assert_exactly(100_000)
    stats = writer.stats
    assert stats["replayed"] == 100_000 - 100 and stats["spool_pending"] == 0


async def test_outage_spools_then_recovers(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    writer = _writer(store, spool, batch_size=10)
    await writer.start()
    store.down = True
    with caplog.at_level(logging.INFO, logger="llmrelay.store.event_writer"):
        for i in range(50):
            writer.submit(_doc(i))
        await writer.flush()
        assert store.rows == {}
        assert writer.stats["store_available"] is False
        assert writer.stats["spooled"] == 50 and spool.pending() == 50
        assert writer.stats["last_error"] == "StoreError: database unavailable"
        store.down = False
        for i in range(50, 80):
            writer.submit(_doc(i))
        await _settle(writer, spool)
    store.assert_exactly(80)
    assert writer.stats["store_available"] is True
    assert "unavailable" in caplog.text and "available again" in caplog.text
    assert "user-" not in caplog.text  # counts only, never documents
    await writer.stop()


async def test_partly_landed_batch_is_not_duplicated(spool: Spool) -> None:
    store = FakeStore(schedule=["half"])
    writer = _writer(store, spool, batch_size=20)
    await writer.start()
    for i in range(20):
        writer.submit(_doc(i))
    await _settle(writer, spool)
    await writer.stop()
    store.assert_exactly(20)
    assert writer.stats["spooled"] == 20 and writer.stats["replayed"] == 20


async def test_spool_of_an_earlier_run_is_replayed_at_start(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(30)])
    _tear(spool.path, b'{"event": {"id": "e')  # the earlier run crashed mid-write
    store = FakeStore()
    restarted = Spool(spool.path)
    writer = _writer(store, restarted)
    await writer.start()
    writer.submit(_doc(30))
    await _settle(writer, restarted)
    store.assert_exactly(31)
    await writer.stop()


async def test_stop_drains_the_queue_to_the_store(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool, batch_size=7, flush_interval=10.0)
    await writer.start()
    for i in range(100):
        writer.submit(_doc(i))
    await writer.stop()
    store.assert_exactly(100)
    assert spool.pending() == 0


async def test_stop_drains_to_the_spool_when_the_store_is_down(spool: Spool) -> None:
    store = FakeStore()
    store.down = True
    writer = _writer(store, spool, batch_size=10, retry_interval=60.0)
    await writer.start()
    for i in range(100):
        writer.submit(_doc(i))
    await writer.stop()
    assert spool.pending() == 100
    store.down = False
    assert await spool.replay(store.write) == 100
    store.assert_exactly(100)


async def test_stop_spools_what_a_hanging_store_holds(spool: Spool) -> None:
    store = FakeStore()
    store.delay = 30.0
    writer = _writer(store, spool, batch_size=10)
    await writer.start()
    for i in range(25):
        writer.submit(_doc(i))
    await asyncio.sleep(0.05)  # the first batch is now stuck in write()
    started = time.monotonic()
    await writer.stop(timeout=0.2)
    assert time.monotonic() - started < 2.0
    assert spool.pending() == 25
    writer.submit(_doc(25))  # after stop: still accepted, straight to the spool
    assert spool.pending() == 26
    store.delay = 0
    await spool.replay(store.write)
    store.assert_exactly(26)


async def test_an_invalid_document_is_dropped_not_mistaken_for_an_outage(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool, batch_size=16)
    await writer.start()
    for i in range(15):
        writer.submit(_doc(i))
    writer.submit({"event": {"action": "execute"}, "user": {"name": "x"}} | {"event": {"id": ""}})
    await writer.flush()
    store.assert_exactly(15)
    stats = writer.stats
    assert stats["rejected"] == 1 and stats["spooled"] == 0 and stats["store_available"] is True
    await writer.stop()


async def test_flush_and_stop_edges(spool: Spool) -> None:
    store = FakeStore()
    writer = _writer(store, spool)
    with pytest.raises(RuntimeError):
        await writer.flush()
    await writer.start()
    with pytest.raises(RuntimeError):
        await writer.start()
    await writer.flush()  # nothing submitted: returns at once
    await writer.stop()
    await writer.stop()  # idempotent
    await writer.flush()


def test_bad_parameters_are_refused(spool: Spool) -> None:
    with pytest.raises(ValueError):
        EventWriter(FakeStore().write, spool=spool, max_queue=0)


async def test_replay_now(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(5)])
    store = FakeStore()
    writer = _writer(store, spool, retry_interval=60.0)
    assert await writer.replay_now() == 5
    store.assert_exactly(5)


# --- any interleaving of outages ------------------------------------------------------

outcomes = st.lists(st.sampled_from(["ok", "fail", "half"]), max_size=40)


@settings(
    max_examples=scaled(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    schedule=outcomes,
    chunks=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=8),
    max_queue=st.integers(min_value=1, max_value=50),
    batch_size=st.integers(min_value=1, max_value=25),
    restart_after=st.integers(min_value=0, max_value=8),
)
def test_any_outage_schedule_stores_every_event_exactly_once(
    schedule: list[str], chunks: list[int], max_queue: int, batch_size: int, restart_after: int
) -> None:
    """Random write failures (none, full, half-landed), bursts, and a restart mid-way."""

    async def scenario(directory: Path) -> None:
        store = FakeStore(schedule)

        def new_writer() -> tuple[EventWriter, Spool]:
            spool = Spool(directory / "events.jsonl")
            writer = EventWriter(
                store.write,
                spool=spool,
                max_queue=max_queue,
                batch_size=batch_size,
                flush_interval=0.001,
                retry_interval=0.002,
            )
            return writer, spool

        writer, spool = new_writer()
        await writer.start()
        total = 0
        for n, size in enumerate(chunks):
            if n == restart_after:  # a restart: what the old run spooled, the new replays
                await writer.stop()
                writer, spool = new_writer()
                await writer.start()
            for _ in range(size):
                writer.submit(_doc(total))
                total += 1
            await asyncio.sleep(0)  # let the writer interleave with submissions
        await _settle(writer, spool)
        await writer.stop()
        store.assert_exactly(total)
        assert spool.pending() == 0

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(scenario(Path(directory)))
