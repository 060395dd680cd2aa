"""The event journal: record framing (torn tail, corrupt record), group-committed appends,
release and truncation, adoption of a killed process's journal, and a full disk."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from llmrelay.store.event_writer import EventWriter
from llmrelay.store.journal import Journal
from llmrelay.store.journal_records import MAGIC, encode_record, read_records
from llmrelay.store.spool import Spool
from tests.helpers.tmpfs import small_tmpfs
from tests.store.test_event_writer import FakeStore


def _doc(i: int) -> dict[str, object]:
    return {"event": {"id": f"e{i}", "action": "execute"}, "user": {"name": f"user-{i}"}}


def _records(count: int) -> list[bytes]:
    import orjson

    return [encode_record(orjson.dumps(_doc(i))) for i in range(count)]


def _journal_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.journal"))


def _on_disk(directory: Path) -> set[str]:
    ids: set[str] = set()
    for path in _journal_files(directory):
        for document in read_records(path.read_bytes()).documents:
            event = document["event"]
            assert isinstance(event, Mapping)
            ids.add(str(event["id"]))
    return ids


# --- record framing -----------------------------------------------------------------------


def test_records_round_trip() -> None:
    result = read_records(b"".join(_records(5)))
    assert [d["event"] for d in result.documents] == [_doc(i)["event"] for i in range(5)]
    assert (result.corrupt, result.torn) == (0, False)


def test_a_record_cut_anywhere_is_a_torn_tail_and_the_whole_ones_before_it_are_read() -> None:
    records = _records(3)
    whole = b"".join(records[:2])
    for cut in range(1, len(records[2])):
        result = read_records(whole + records[2][:cut])
        assert len(result.documents) == 2, cut
        assert result.torn and result.corrupt == 0, cut


@pytest.mark.parametrize("where", ["magic", "length", "crc", "lap", "payload"])
def test_a_corrupt_record_is_skipped_and_the_rest_read(where: str) -> None:
    records = _records(3)
    middle = bytearray(records[1])
    offset = {"magic": 1, "length": 5, "crc": 9, "lap": 13, "payload": 20}[where]
    middle[offset] ^= 0xFF
    result = read_records(records[0] + bytes(middle) + records[2])
    assert [d["event"]["id"] for d in result.documents] == ["e0", "e2"]  # type: ignore[index]
    assert result.corrupt == 1 and not result.torn


def test_a_record_whose_payload_is_not_a_document_is_corrupt() -> None:
    result = read_records(encode_record(b"[1, 2]") + encode_record(b"{bad") + _records(1)[0])
    assert len(result.documents) == 1 and result.corrupt == 2


def test_zeros_after_the_records_are_unwritten_space_not_a_torn_record() -> None:
    result = read_records(b"".join(_records(3)) + bytes(4096))
    assert len(result.documents) == 3
    assert (result.corrupt, result.torn) == (0, False)


def test_a_rewritten_file_is_read_up_to_what_is_left_of_the_previous_lap() -> None:
    import orjson

    first_lap = b"".join(_records(6))
    second_lap = b"".join(encode_record(orjson.dumps(_doc(100 + i)), lap=2) for i in range(2))
    data = second_lap + first_lap[len(second_lap) :]  # written in place from the start
    result = read_records(data)
    assert [d["event"]["id"] for d in result.documents] == ["e100", "e101"]  # type: ignore[index]
    assert (result.corrupt, result.torn) == (0, False)


def test_records_of_the_first_format_are_still_read() -> None:
    """A journal left by a version without laps (``\\xa7LRJ`` records) replays after an
    upgrade."""
    import struct
    import zlib

    import orjson

    def v1(payload: bytes) -> bytes:
        crc = zlib.crc32(payload, zlib.crc32(struct.pack("<I", len(payload))))
        return struct.pack("<4sII", b"\xa7LRJ", len(payload), crc) + payload

    result = read_records(b"".join(v1(orjson.dumps(_doc(i))) for i in range(3)))
    assert [d["event"]["id"] for d in result.documents] == ["e0", "e1", "e2"]  # type: ignore[index]
    assert (result.corrupt, result.torn) == (0, False)


# --- the journal with its writer ----------------------------------------------------------


def _writer(home: Path, store: FakeStore, **journal: int) -> EventWriter:
    return EventWriter(
        store.write,
        spool=Spool(home / "spool" / "events.jsonl"),
        journal=Journal(home / "journal", **journal),
        flush_interval=0.01,
        retry_interval=0.05,
    )


async def test_a_durable_submit_is_on_disk_when_its_future_resolves(tmp_path: Path) -> None:
    store = FakeStore()
    store.down = True  # the store takes nothing: only the journal can hold them
    writer = _writer(tmp_path, store)
    await writer.start()
    try:
        futures = [writer.submit_durable(_doc(i)) for i in range(50)]
        assert all(f is not None for f in futures)
        await asyncio.gather(*[f for f in futures if f is not None])
        assert {f"e{i}" for i in range(50)} <= _on_disk(tmp_path / "journal")
    finally:
        store.down = False
        await writer.stop()


async def test_the_appends_of_one_turn_of_the_loop_are_one_group_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route's target and the route itself journal one document each, one after the
    other: the thread must not start writing the first alone (one ``fdatasync`` each)."""
    from llmrelay.store import journal_files

    groups: list[int] = []
    original = journal_files.SegmentFile.append

    def counted(self: journal_files.SegmentFile, payloads: list[bytes]) -> None:
        groups.append(len(payloads))
        original(self, payloads)

    monkeypatch.setattr(journal_files.SegmentFile, "append", counted)
    store = FakeStore()
    writer = _writer(tmp_path, store)
    await writer.start()
    try:
        for round_ in range(20):
            first = writer.submit_durable(_doc(round_ * 2))
            time.sleep(0.002)  # noqa: ASYNC251 - the loop lets go of the GIL, as a blocked loop would
            second = writer.submit_durable(_doc(round_ * 2 + 1))
            assert first is not None and second is not None
            await asyncio.gather(first, second)
        assert groups == [2] * 20
    finally:
        await writer.stop()


async def test_released_documents_are_truncated_and_a_clean_stop_leaves_no_file(
    tmp_path: Path,
) -> None:
    store = FakeStore()
    writer = _writer(tmp_path, store, segment_bytes=2048, truncate_bytes=1024)
    await writer.start()
    for round_ in range(20):
        futures = [writer.submit_durable(_doc(round_ * 10 + i)) for i in range(10)]
        await asyncio.gather(*[f for f in futures if f is not None])
        await writer.flush()
    # committed documents do not pile up: at most the live segment and one sealed one
    assert sum(p.stat().st_size for p in _journal_files(tmp_path / "journal")) < 3 * 2048
    assert len(_journal_files(tmp_path / "journal")) <= 2
    await writer.stop()
    store.assert_exactly(200)
    assert list((tmp_path / "journal").iterdir()) == []


async def test_execute_start_and_async_durability_do_not_journal(tmp_path: Path) -> None:
    store = FakeStore()
    writer = EventWriter(
        store.write,
        spool=Spool(tmp_path / "spool" / "events.jsonl"),
        journal=Journal(tmp_path / "journal"),
        durable=False,
    )
    await writer.start()
    try:
        assert writer.submit_durable(_doc(1)) is None
        await writer.flush()
        assert _on_disk(tmp_path / "journal") == set()
    finally:
        await writer.stop()
    assert set(store.rows) == {"e1"}


_KILLED = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from llmrelay.store.journal import Journal

    async def main() -> None:
        journal = Journal(Path(sys.argv[1]), segment_bytes=int(sys.argv[3]))
        journal.open(asyncio.get_running_loop())
        count = int(sys.argv[2])
        for first in range(0, count, 20):  # in waves: a segment rotates between writes
            await asyncio.gather(*(
                journal.append({"event": {"id": f"e{i}", "action": "execute"}}, f"e{i}")
                for i in range(first, min(first + 20, count))
            ))
        print("durable", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


def _run_killed(script: str, *args: object) -> str:
    """Run ``script`` in a process of its own, which kills itself with SIGKILL at the
    end; returns what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout


def _killed_journal(directory: Path, count: int, segment_bytes: int = 1 << 20) -> None:
    """A process journals ``count`` documents, waits for them to be durable, and is
    killed with SIGKILL before anything stores them."""
    stdout = _run_killed(_KILLED, directory, count, segment_bytes)
    assert stdout.strip() == "durable"


async def test_a_killed_process_journal_is_replayed_once_then_deleted(tmp_path: Path) -> None:
    _killed_journal(tmp_path / "journal", 300, segment_bytes=4096)  # several segments
    assert len(_journal_files(tmp_path / "journal")) > 1
    store = FakeStore()
    writer = _writer(tmp_path, store)
    await writer.start()
    try:
        await writer.flush()
        store.assert_exactly(300)
        for _ in range(200):  # the adopted files go once the writer has released them
            if not _journal_files(tmp_path / "journal"):
                break
            await asyncio.sleep(0.01)
        assert _journal_files(tmp_path / "journal") == []
    finally:
        await writer.stop()
    assert list((tmp_path / "journal").iterdir()) == []


_REWOUND = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from pathlib import Path
    from llmrelay.store.journal import Journal

    async def main() -> None:
        directory = Path(sys.argv[1])
        journal = Journal(directory, segment_bytes=8192, truncate_bytes=2048, reserve_bytes=4096)
        journal.open(asyncio.get_running_loop())
        sizes = set()
        for wave in range(30):  # each wave is released before the next, but the last
            documents = [{"event": {"id": f"e{i}", "action": "execute"}}
                         for i in range(wave * 10, wave * 10 + 10)]
            await asyncio.gather(*(journal.append(d, d["event"]["id"]) for d in documents))
            sizes.update(p.stat().st_size for p in directory.glob("*.journal"))
            if wave < 29:
                journal.release(documents)
        print(json.dumps(sorted(sizes)), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_a_segment_is_rewritten_in_place_and_a_crash_replays_only_its_current_lap(
    tmp_path: Path,
) -> None:
    """Records go over zero-filled space (the file keeps its size: no metadata to sync),
    and a segment whose documents were all stored is rewritten from its start; after a
    kill, what is left of earlier laps is not replayed."""
    directory = tmp_path / "journal"
    stdout = await asyncio.to_thread(_run_killed, _REWOUND, directory)
    assert json.loads(stdout) == [4096]  # one size from the first write to the last
    assert len(_journal_files(directory)) == 1
    store = FakeStore()
    writer = _writer(tmp_path, store)
    await writer.start()
    await writer.flush()
    await writer.stop()
    replayed = set(store.rows)
    assert {f"e{i}" for i in range(290, 300)} <= replayed  # the unreleased last wave
    assert len(replayed) <= 50  # this lap only (2 KiB of ~60-byte records, then the wave)
    assert "e0" not in replayed


async def test_a_torn_and_a_corrupt_record_at_start_are_reported_never_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "journal"
    _killed_journal(directory, 5)
    (segment,) = _journal_files(directory)
    data = bytearray(segment.read_bytes())
    second = data.find(MAGIC, 1)
    data[second + 20] ^= 0xFF  # e1's payload
    end = len(data.rstrip(b"\0"))  # the records end where the zero-filled reserve begins
    torn = _records(6)[5][:-3]  # e5 cut mid-write, in place
    data[end : end + len(torn)] = torn
    segment.write_bytes(bytes(data))
    store = FakeStore()
    writer = _writer(tmp_path, store)
    with caplog.at_level(logging.WARNING, logger="llmrelay.store.journal"):
        await writer.start()
        await writer.flush()
    await writer.stop()
    assert set(store.rows) == {"e0", "e2", "e3", "e4"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("skipped 1 corrupt record" in m for m in messages), messages
    assert any("cut by a crash" in m and "4 whole record" in m for m in messages), messages


async def test_a_live_process_journal_is_not_adopted(tmp_path: Path) -> None:
    first_store, second_store = FakeStore(), FakeStore()
    first_store.down = True
    first = _writer(tmp_path, first_store)
    await first.start()
    second = _writer(tmp_path, second_store)
    try:
        future = first.submit_durable(_doc(1))
        assert future is not None
        await future
        await second.start()
        await second.flush()
        assert second_store.rows == {}
    finally:
        await second.stop()
        first_store.down = False
        await first.stop()
    assert set(first_store.rows) == {"e1"}


# --- a full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: the journal's disk fills up after a few dozen documents."""
    with small_tmpfs(tmp_path / "small-disk") as mount_point:
        yield mount_point


_FILL = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from pathlib import Path
    from llmrelay.errors import EventLogUnavailableError
    from llmrelay.store.journal import Journal

    async def main() -> None:
        journal = Journal(Path(sys.argv[1]))
        journal.open(asyncio.get_running_loop())
        acknowledged, message = [], None
        for i in range(200):
            document = {"event": {"id": f"e{i}", "action": "execute"}, "message": "x" * 1500}
            try:
                await journal.append(document, f"e{i}")
            except EventLogUnavailableError as err:
                message = str(err)
                break
            acknowledged.append(f"e{i}")
        print(json.dumps({"acknowledged": acknowledged, "message": message}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


def _fill_journal(directory: Path) -> dict[str, object]:
    outcome: dict[str, object] = json.loads(_run_killed(_FILL, directory))
    return outcome


async def test_a_full_disk_fails_the_call_naming_the_event_log_and_loses_nothing_journalled(
    tmp_path: Path, small_disk: Path
) -> None:
    """Nothing is ever released here (no writer), so the journal fills the disk; the
    process is then killed and a new one must replay every acknowledged document."""
    directory = small_disk / "journal"
    outcome = _fill_journal(directory)
    acknowledged, message = outcome["acknowledged"], outcome["message"]
    assert isinstance(acknowledged, list) and isinstance(message, str), (
        "the 64 KiB disk never filled up"
    )
    assert 10 < len(acknowledged) < 64
    assert message.startswith("The event log could not record this execution")
    assert "No space left on device" in message
    # the failed write left no half record behind
    (segment,) = _journal_files(directory)
    result = read_records(segment.read_bytes())
    assert (result.corrupt, result.torn) == (0, False)
    assert _on_disk(directory) == set(acknowledged)

    store = FakeStore()
    writer = EventWriter(
        store.write, spool=Spool(tmp_path / "spool" / "events.jsonl"), journal=Journal(directory)
    )
    await writer.start()
    await writer.flush()
    await writer.stop()
    assert set(store.rows) == set(acknowledged)
    assert list(directory.iterdir()) == []
