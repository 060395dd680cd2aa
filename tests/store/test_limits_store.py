"""Limits in the store: definitions per space and the shared window counters, on SQLite and
PostgreSQL, including two processes admitting against one limit."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llmrelay.domain.limits import Limit, StoredLimit, parse_limit
from llmrelay.errors import ConfigurationError, LimitNotFoundError, StoreError
from llmrelay.store import Store, create_engine, open_store
from llmrelay.store.limit_counters import LimitCounters
from llmrelay.store.limit_guard import GuardedCounters, OutagePolicy
from llmrelay.store.limits import LimitRepository
from tests.store.conftest import KEY, Database

AT = datetime(2030, 6, 15, 12, 30, 30, 500_000, tzinfo=UTC)  # 29.5 s left in the minute
NEXT_MINUTE = datetime(2030, 6, 15, 12, 31, 5, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _limit(**figures: object) -> Limit:
    scope = figures.pop("scope", {"user": "alice"})
    return parse_limit({"name": figures.pop("name", "team a"), "scope": scope, **figures})


@pytest.fixture
def repo(store: Store) -> LimitRepository:
    return LimitRepository(store.engine)


@pytest.fixture
def counters(store: Store) -> LimitCounters:
    return LimitCounters(store.engine)


# --- definitions ----------------------------------------------------------------------------
async def test_create_get_list_update_delete(repo: LimitRepository) -> None:
    a = await repo.create("default", _limit(name="b-limit", requests_per_minute=5))
    b = await repo.create("default", _limit(name="a-limit", cost_usd_per_day=1.5))
    other = await repo.create("other", _limit(tokens_per_day=10))
    assert len({a.id, b.id, other.id}) == 3 and len(a.id) == 36  # UUIDs, like connectors
    assert await repo.get("default", a.id) == a
    assert [s.id for s in await repo.list("default")] == [b.id, a.id]  # by name
    assert {s.id for s in await repo.list_all()} == {a.id, b.id, other.id}
    fetched = await repo.get("default", b.id)
    assert fetched.limit.cost_usd_per_day == 1.5 and fetched.limit.to_dict() == b.limit.to_dict()

    changed = await repo.update("default", a.id, _limit(name="renamed", tokens_per_month=9))
    assert changed.created_at == a.created_at
    again = await repo.get("default", a.id)
    assert again.limit.to_dict() == {
        "name": "renamed",
        "scope": {"user": "alice"},
        "tokens_per_month": 9,
    }
    await repo.delete("default", a.id)
    assert [s.id for s in await repo.list("default")] == [b.id]


async def test_limits_belong_to_their_space(repo: LimitRepository) -> None:
    stored = await repo.create("default", _limit(requests_per_minute=1))
    for call in (
        repo.get("other", stored.id),
        repo.update("other", stored.id, _limit(requests_per_minute=2)),
        repo.delete("other", stored.id),
        repo.get("default", "nope"),
    ):
        with pytest.raises(LimitNotFoundError) as caught:
            await call
        assert str(caught.value).startswith("Limit [") and str(caught.value).endswith("not found")
    assert (await repo.get("default", stored.id)).limit.requests_per_minute == 1


async def test_limits_and_counts_survive_a_restart(db_url: str) -> None:
    async with await open_store(db_url, encryption_key=KEY) as store:
        stored = await LimitRepository(store.engine).create("default", _limit(tokens_per_day=50))
        counters = LimitCounters(store.engine)
        assert (await counters.admit([stored], AT)).admitted
        await counters.record([stored], tokens=20, cost_usd=None, now=AT)
    async with await open_store(db_url, encryption_key=KEY) as store:
        again = await LimitRepository(store.engine).get("default", stored.id)
        use = await LimitCounters(store.engine).current([again], AT)
    assert use[stored.id] == {"requests_today": 1, "tokens_today": 20, "cost_usd_today": 0.0}


# --- admission --------------------------------------------------------------------------------
async def test_requests_per_minute(repo: LimitRepository, counters: LimitCounters) -> None:
    stored = await repo.create("default", _limit(requests_per_minute=3))
    assert [(await counters.admit([stored], AT)).admitted for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    refused = await counters.admit([stored], AT)
    assert refused.refusal is not None
    assert refused.refusal.limit_id == stored.id
    assert refused.refusal.cap.field == "requests_per_minute"
    assert refused.refusal.retry_after == 30  # 29.5 s, rounded up
    assert refused.refusal.message == 'Limit "team a" reached: 3 requests per minute'
    assert not refused.refusal.is_budget
    # refusals are not counted; the next minute admits again
    assert (await counters.current([stored], AT))[stored.id]["requests_this_minute"] == 3
    assert (await counters.admit([stored], NEXT_MINUTE)).admitted
    assert (await counters.current([stored], NEXT_MINUTE))[stored.id] == {
        "requests_this_minute": 1,
        "tokens_this_minute": 0,
        "cost_usd_this_minute": 0.0,
    }


async def test_all_windows_or_none(repo: LimitRepository, counters: LimitCounters) -> None:
    """A request under several limits is counted in all of them or in none."""
    wide = await repo.create("default", _limit(name="wide", requests_per_minute=10))
    narrow = await repo.create(
        "default", _limit(name="narrow", scope={"connector": "c1"}, requests_per_minute=1)
    )
    assert (await counters.admit([wide, narrow], AT)).admitted
    refused = await counters.admit([wide, narrow], AT)
    assert refused.refusal is not None and refused.refusal.limit_id == narrow.id
    use = await counters.current([wide, narrow], AT)
    assert use[wide.id]["requests_this_minute"] == 1  # the refused request left no trace
    assert (await counters.admit([wide], AT)).admitted
    assert (await counters.admit([], AT)).admitted


async def test_a_token_budget_is_checked_at_admission_and_counted_at_the_end(
    repo: LimitRepository, counters: LimitCounters
) -> None:
    stored = await repo.create("default", _limit(tokens_per_day=100))
    assert (await counters.admit([stored], AT)).admitted
    assert (await counters.admit([stored], AT)).admitted  # both start under the budget
    await counters.record([stored], tokens=80, cost_usd=None, now=AT)
    await counters.record([stored], tokens=70, cost_usd=None, now=AT)  # overshoot: one call
    refused = await counters.admit([stored], AT)
    assert refused.refusal is not None and refused.refusal.is_budget
    assert refused.refusal.cap.field == "tokens_per_day"
    assert refused.refusal.retry_after == 11 * 3600 + 29 * 60 + 30  # until midnight UTC
    assert (await counters.current([stored], AT))[stored.id]["tokens_today"] == 150


async def test_a_cost_budget(repo: LimitRepository, counters: LimitCounters) -> None:
    stored = await repo.create("default", _limit(cost_usd_per_month=0.01))
    for cost in (0.004, None, 0.005, 0.0009):  # unknown cost adds nothing
        assert (await counters.admit([stored], AT)).admitted
        await counters.record([stored], tokens=10, cost_usd=cost, now=AT)
    assert (await counters.current([stored], AT))[stored.id]["cost_usd_this_month"] == 0.0099
    assert (await counters.admit([stored], AT)).admitted
    await counters.record([stored], tokens=1, cost_usd=0.0001, now=AT)  # exactly the figure
    refused = await counters.admit([stored], AT)
    assert refused.refusal is not None
    assert refused.refusal.message == 'Limit "team a" reached: 0.01 USD per month'
    assert refused.refusal.retry_after == int(
        (datetime(2030, 7, 1, tzinfo=UTC) - AT).total_seconds() + 1
    )


async def test_the_refusal_that_lasts_longest_is_reported(
    repo: LimitRepository, counters: LimitCounters
) -> None:
    """Minute and day both reached: Retry-After points past the day, not the minute."""
    stored = await repo.create("default", _limit(requests_per_minute=1, tokens_per_day=10))
    assert (await counters.admit([stored], AT)).admitted
    await counters.record([stored], tokens=10, cost_usd=None, now=AT)
    refused = await counters.admit([stored], AT)
    assert refused.refusal is not None and refused.refusal.cap.field == "tokens_per_day"
    refused = await counters.admit([stored], NEXT_MINUTE)  # the minute admits, the day not
    assert refused.refusal is not None and refused.refusal.cap.field == "tokens_per_day"


async def test_current_use_of_every_window(repo: LimitRepository, counters: LimitCounters) -> None:
    every = _limit(
        requests_per_minute=9,
        tokens_per_minute=900,
        tokens_per_day=9000,
        tokens_per_month=90_000,
        cost_usd_per_day=9,
        cost_usd_per_month=90,
    )
    stored = await repo.create("default", every)
    idle = await repo.create("default", _limit(name="idle", tokens_per_day=1))
    assert (await counters.admit([stored], AT)).admitted
    await counters.record([stored], tokens=42, cost_usd=0.25, now=AT)
    use = await counters.current([stored, idle], AT)
    assert use[stored.id] == {
        "requests_this_minute": 1,
        "tokens_this_minute": 42,
        "cost_usd_this_minute": 0.25,
        "requests_today": 1,
        "tokens_today": 42,
        "cost_usd_today": 0.25,
        "requests_this_month": 1,
        "tokens_this_month": 42,
        "cost_usd_this_month": 0.25,
    }
    assert use[idle.id] == {"requests_today": 0, "tokens_today": 0, "cost_usd_today": 0.0}
    later = await counters.current([stored], NEXT_MINUTE)  # a new minute, the same day
    assert later[stored.id]["requests_this_minute"] == 0
    assert later[stored.id]["tokens_today"] == 42


async def test_updating_the_scope_starts_the_counts_afresh(
    repo: LimitRepository, counters: LimitCounters
) -> None:
    stored = await repo.create("default", _limit(requests_per_minute=1))
    assert (await counters.admit([stored], AT)).admitted
    raised = await repo.update("default", stored.id, _limit(requests_per_minute=2))
    assert (await counters.admit([raised], AT)).admitted  # the count went on: 2 of 2
    assert not (await counters.admit([raised], AT)).admitted
    moved = await repo.update(
        "default", stored.id, _limit(scope={"user": "bob"}, requests_per_minute=2)
    )
    assert (await counters.current([moved], AT))[stored.id]["requests_this_minute"] == 0


# --- bounded state ------------------------------------------------------------------------------
async def _rows(database: Database) -> list[tuple[object, ...]]:
    return await database.rows("SELECT limit_id, kind FROM limit_windows ORDER BY 1, 2")


async def test_one_row_per_limit_and_window(
    repo: LimitRepository, counters: LimitCounters, database: Database
) -> None:
    stored = await repo.create("default", _limit(requests_per_minute=100, tokens_per_day=10**6))
    for minute in range(5):  # five minutes of traffic leave the current minute only
        at = AT + timedelta(minutes=minute)
        for _ in range(3):
            assert (await counters.admit([stored], at)).admitted
            await counters.record([stored], tokens=5, cost_usd=0.001, now=at)
    assert await _rows(database) == [(stored.id, "day"), (stored.id, "minute")]
    await repo.delete("default", stored.id)
    assert await _rows(database) == []


async def test_prune_deletes_past_windows_and_deleted_limits(
    repo: LimitRepository, counters: LimitCounters, database: Database
) -> None:
    kept = await repo.create("default", _limit(requests_per_minute=5, tokens_per_month=10))
    gone = await repo.create("default", _limit(name="gone", requests_per_minute=5))
    assert (await counters.admit([kept, gone], AT)).admitted
    await counters.record([kept], tokens=1, cost_usd=None, now=NEXT_MINUTE)  # a late stream
    # a limit deleted while an execution ran: its recording leaves an orphan row
    await repo.delete("default", gone.id)
    await counters.record([gone], tokens=1, cost_usd=None, now=AT)
    assert len(await _rows(database)) == 4
    assert await counters.prune(NEXT_MINUTE) == 2  # kept's old minute, gone's orphan
    assert await _rows(database) == [(kept.id, "minute"), (kept.id, "month")]
    assert await counters.prune(NEXT_MINUTE) == 0


# --- concurrency ---------------------------------------------------------------------------------
async def test_concurrent_tasks_never_admit_past_the_limit(
    repo: LimitRepository, counters: LimitCounters
) -> None:
    stored = await repo.create("default", _limit(requests_per_minute=7))
    results = await asyncio.gather(*(counters.admit([stored], AT) for _ in range(24)))
    assert sum(r.admitted for r in results) == 7
    assert (await counters.current([stored], AT))[stored.id]["requests_this_minute"] == 7


def _run_workers(args: list[str], names: list[str]) -> list[str]:
    """Run ``tests.store.limit_worker`` processes side by side; their outputs."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.limit_worker", *args, name, str(len(names))],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0] * len(names), [err for _, err in outputs]
    return [out for out, _ in outputs]


@pytest.fixture
def ready_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ready"
    path.mkdir()
    yield path


async def test_two_processes_never_admit_past_the_limit(
    repo: LimitRepository, counters: LimitCounters, db_url: str, ready_dir: Path
) -> None:
    """The overshoot bound is 0: 2 processes x 4 tasks, 60 attempts each, limit 25."""
    stored = await repo.create("default", _limit(requests_per_minute=25))
    args = [db_url, "default", stored.id, AT.isoformat(), "60", "4", str(ready_dir)]
    outputs = await asyncio.to_thread(_run_workers, args, ["a", "b"])
    admitted = [int(out) for out in outputs]
    assert sum(admitted) == 25, admitted
    assert (await counters.current([stored], AT))[stored.id]["requests_this_minute"] == 25


# --- the store-down policy ----------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _broken_counters(tmp_path: Path) -> LimitCounters:
    """Counters on a file that is not a database, like a store that is down: every call
    raises StoreError. (A path that cannot be opened at all kills aiosqlite's connection
    thread with an unhandled exception instead, which says nothing about our code.)"""
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"this is not an SQLite database file " * 64)
    return LimitCounters(create_engine(f"sqlite:///{broken}"))


def _any_limit() -> StoredLimit:
    return StoredLimit("l1", "default", _limit(requests_per_minute=1), AT, AT)


@pytest.mark.sqlite_only
async def test_fail_open_admits_and_logs_once_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    guard = GuardedCounters(_broken_counters(tmp_path), OutagePolicy(clock=clock))
    caplog.set_level(logging.WARNING, logger="llmrelay.limits")
    for _ in range(3):
        admission = await guard.admit([_any_limit()], AT)
        assert admission.admitted and admission.store_unavailable
    assert not await guard.record([_any_limit()], tokens=5, cost_usd=0.1, now=AT)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith("limits: the store is unavailable (database error: ")
    assert warnings[0].endswith("admitting requests without checking limits (fail open)")
    clock.now += 61
    await guard.admit([_any_limit()], AT)
    assert len(caplog.records) == 2
    assert guard.policy.in_outage
    assert (await guard.admit([], AT)).admitted  # no limit applies: the store is not asked


@pytest.mark.sqlite_only
async def test_fail_closed_refuses_with_retry_after(tmp_path: Path) -> None:
    policy = OutagePolicy.from_setting("closed")
    admission = await GuardedCounters(_broken_counters(tmp_path), policy).admit([_any_limit()], AT)
    assert (admission.admitted, admission.store_unavailable) == (False, True)
    assert admission.retry_after == 5 and admission.refusal is None


async def test_recovery_is_logged_and_limits_apply_again(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    stored = await LimitRepository(store.engine).create("default", _limit(requests_per_minute=1))
    guard = GuardedCounters(LimitCounters(store.engine), OutagePolicy())
    caplog.set_level(logging.WARNING, logger="llmrelay.limits")
    guard.policy.on_store_error(StoreError("database error: gone"))  # the last call failed
    caplog.clear()
    assert (await guard.admit([stored], AT)).admitted
    assert [r.getMessage() for r in caplog.records] == [
        "limits: the store is available again; limits are enforced"
    ]
    assert not guard.policy.in_outage
    assert not (await guard.admit([stored], AT)).admitted
    assert await guard.record([stored], tokens=1, cost_usd=None, now=AT)


def test_the_outage_setting_is_open_or_closed() -> None:
    assert OutagePolicy.from_setting("open").mode == "open"
    assert OutagePolicy().mode == "open"  # the default
    with pytest.raises(ConfigurationError) as caught:
        OutagePolicy.from_setting("sometimes")
    assert str(caught.value) == 'llmrelay.limits.onStoreOutage: expected "open" or "closed"'
