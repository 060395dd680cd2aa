"""Spool: durable append, replay in batches, resume after failures and crashes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
import pytest

from llmrelay.errors import StoreError
from llmrelay.store.spool import Spool


def _doc(i: int) -> dict[str, object]:
    return {"event": {"id": f"e{i}", "action": "execute"}, "user": {"name": f"user-{i}"}}


def _tear(path: Path, partial: bytes) -> None:
    """What a crash in the middle of an append leaves: a line without its end."""
    with open(path, "ab") as handle:
        handle.write(partial)


class FakeStore:
    """Stores by ``event.id`` like the real repository; can fail on demand."""

    def __init__(self) -> None:
        self.rows: dict[str, Mapping[str, object]] = {}
        self.calls = 0
        self.fail_on: set[int] = set()  # call numbers (1-based) that raise
        self.land_half_then_fail: set[int] = set()  # calls that store half, then raise

    async def write(self, documents: Sequence[Mapping[str, object]]) -> int:
        self.calls += 1
        if self.calls in self.fail_on:
            raise StoreError("database is locked")
        landing = documents
        if self.calls in self.land_half_then_fail:
            landing = documents[: len(documents) // 2]
        new = 0
        for document in landing:
            event = document["event"]
            assert isinstance(event, Mapping)
            if event["id"] not in self.rows:
                self.rows[str(event["id"])] = document
                new += 1
        if landing is not documents:
            raise StoreError("connection reset")
        return new


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool" / "events.jsonl")


async def test_append_then_replay_everything(spool: Spool) -> None:
    assert spool.pending() == 0
    spool.append([_doc(i) for i in range(10)])
    spool.append([_doc(i) for i in range(10, 25)])
    assert spool.pending() == 25
    store = FakeStore()
    assert await spool.replay(store.write, batch_size=4) == 25
    assert sorted(store.rows) == sorted(f"e{i}" for i in range(25))
    assert store.calls == 7  # 25 in batches of 4
    assert spool.pending() == 0
    assert await spool.replay(store.write) == 0
    assert not any(spool.path.parent.iterdir())  # nothing left behind


async def test_pending_counts_an_existing_spool(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(7)])
    assert Spool(spool.path).pending() == 7


async def test_failure_keeps_the_unwritten_rest(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(10)])
    store = FakeStore()
    store.fail_on = {3}
    with pytest.raises(StoreError):
        await spool.replay(store.write, batch_size=3)
    assert len(store.rows) == 6
    assert spool.pending() == 4
    spool.append([_doc(i) for i in range(10, 12)])  # appends during an outage go on
    assert await spool.replay(store.write, batch_size=3) == 6
    assert sorted(store.rows) == sorted(f"e{i}" for i in range(12))
    assert spool.pending() == 0


async def test_a_batch_that_partly_landed_does_not_duplicate(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(8)])
    store = FakeStore()
    store.land_half_then_fail = {1}
    with pytest.raises(StoreError):
        await spool.replay(store.write, batch_size=8)
    assert sorted(store.rows) == [f"e{i}" for i in range(4)]
    assert await spool.replay(store.write, batch_size=8) == 8  # all 8 offered again
    assert sorted(store.rows) == sorted(f"e{i}" for i in range(8))


async def test_resumes_after_a_crash_mid_replay(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(9)])
    store = FakeStore()
    store.fail_on = {2}
    with pytest.raises(StoreError):
        await spool.replay(store.write, batch_size=3)
    # a new process: a fresh Spool on the same files picks up at the saved offset
    again = Spool(spool.path)
    assert again.pending() == 6
    assert await again.replay(store.write, batch_size=3) == 6
    assert len(store.rows) == 9


async def test_torn_last_line_is_skipped_with_a_warning(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    spool.append([_doc(i) for i in range(5)])
    _tear(spool.path, orjson.dumps(_doc(99))[:17])  # a crash in the middle of a write
    store = FakeStore()
    with caplog.at_level(logging.WARNING, logger="llmrelay.store.spool"):
        assert await Spool(spool.path).replay(store.write) == 5
    assert sorted(store.rows) == [f"e{i}" for i in range(5)]
    assert "skipped 1 unreadable line" in caplog.text
    assert "user-" not in caplog.text  # documents are never logged


async def test_append_after_a_torn_tail_keeps_new_documents_whole(spool: Spool) -> None:
    spool.append([_doc(1)])
    _tear(spool.path, b'{"event": {"id": "e-torn"')
    restarted = Spool(spool.path)
    restarted.append([_doc(2), _doc(3)])
    store = FakeStore()
    assert await restarted.replay(store.write) == 3
    assert sorted(store.rows) == ["e1", "e2", "e3"]


async def test_max_batches_bounds_one_call(spool: Spool) -> None:
    spool.append([_doc(i) for i in range(10)])
    store = FakeStore()
    assert await spool.replay(store.write, batch_size=2, max_batches=2) == 4
    assert spool.pending() == 6
    assert await spool.replay(store.write, batch_size=2) == 6


async def test_unserialisable_documents_are_dropped(spool: Spool) -> None:
    spool.append([_doc(1), {"event": {"id": "bad"}, "x": object()}, _doc(2)])
    assert spool.pending() == 2
