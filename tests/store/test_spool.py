"""Spool: durable append, replay in batches, resume after failures and crashes, and one
spool shared by several processes (``serve --workers N``) losing and repeating nothing."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
import pytest

from llmrelay.errors import StoreError
from llmrelay.store.spool import Spool

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def _run_processes(spool: Spool, tmp_path: Path, roles: dict[str, str], count: int) -> list[str]:
    """Run ``tests.store.spool_worker`` processes side by side on one spool; the ids their
    replays wrote, all together."""
    for sub in ("ready", "done"):
        (tmp_path / sub).mkdir()
    appenders = sum(role in ("append", "both") for role in roles.values())
    module = [sys.executable, "-m", "tests.store.spool_worker"]
    shared = [str(spool.path), str(tmp_path)]
    counts = [str(len(roles)), str(appenders), str(count)]
    processes = [
        subprocess.Popen(
            [*module, role, *shared, name, *counts],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, role in roles.items()
    ]
    try:
        outputs = [p.communicate(timeout=60) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert [p.returncode for p in processes] == [0] * len(roles), [err for _, err in outputs]
    return [line for out, _ in outputs for line in out.split()]


def _ids(names: Sequence[str], count: int) -> list[str]:
    return sorted(
        f"{name}-{batch}-{n}" for name in names for batch in range(count) for n in range(3)
    )


def _assert_empty(spool: Spool) -> None:
    assert not [p.name for p in spool.path.parent.iterdir()]  # no file left behind
    assert Spool(spool.path).pending() == 0


def test_two_appending_processes_and_one_replaying_lose_nothing(
    spool: Spool, tmp_path: Path
) -> None:
    roles = {"a": "append", "b": "append", "r": "replay"}
    written = _run_processes(spool, tmp_path, roles, count=150)
    assert sorted(written) == _ids(["a", "b"], 150)  # every document once: none lost, none twice
    _assert_empty(spool)


def test_workers_appending_and_replaying_together_lose_nothing(
    spool: Spool, tmp_path: Path
) -> None:
    """Each process appends and replays, as every worker of ``serve --workers N`` does."""
    written = _run_processes(spool, tmp_path, {"w1": "both", "w2": "both", "w3": "both"}, 100)
    assert set(written) == set(_ids(["w1", "w2", "w3"], 100))
    assert Counter(written).most_common(1)[0][1] == 1  # replays took turns, none repeated
    _assert_empty(spool)
