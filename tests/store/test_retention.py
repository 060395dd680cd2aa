"""Event log retention: expired raw events and minute rollups go, hour/day rollups stay;
on PostgreSQL by dropping day partitions (one maintainer at a time), on SQLite in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from llmrelay.store import Store, create_engine, open_store
from llmrelay.store.retention import MAINTENANCE_LOCK_KEY, EventLogMaintenance
from tests.store.conftest import KEY, Database
from tests.store.test_events import docs, make_record

NOW = datetime.now(UTC).replace(microsecond=0)
DAYS_90 = timedelta(days=90)


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    async with await open_store(postgres_url, encryption_key=KEY) as opened:
        yield opened


@pytest.fixture
def pg_database(postgres_url: str) -> Database:
    return Database(postgres_url, None)


async def _rollup_counts(database: Database) -> dict[str, int]:
    rows = await database.rows(
        "SELECT interval, sum(executions) FROM usage_rollups GROUP BY interval ORDER BY interval"
    )
    return {str(name): int(total) for name, total in rows}


async def test_expired_events_and_minute_rollups_go_hours_and_days_stay(
    store: Store, database: Database
) -> None:
    old = [make_record(n, at=NOW - timedelta(days=120, minutes=n)) for n in range(7)]
    recent = [make_record(100 + n, at=NOW - timedelta(days=2, minutes=n)) for n in range(3)]
    assert await store.events.write(docs(*old, *recent)) == 20
    maintenance = EventLogMaintenance(store.engine, retention=DAYS_90, batch=4)
    report = await maintenance.run_once(NOW)
    assert report.ran
    assert await store.events.count() == 6  # 3 executions x (execute-start, execute)
    assert await _rollup_counts(database) == {"day": 10, "hour": 10, "minute": 3}
    again = await maintenance.run_once(NOW)
    assert (again.deleted_events, again.deleted_rollups, again.dropped) == (0, 0, [])


async def test_zero_retention_keeps_everything(store: Store) -> None:
    await store.events.write(docs(make_record(1, at=NOW - timedelta(days=4000))))
    report = await EventLogMaintenance(store.engine, retention=timedelta(0)).run_once(NOW)
    assert report.deleted_events == 0 and await store.events.count() == 2


async def test_postgres_drops_whole_day_partitions(pg_store: Store, pg_database: Database) -> None:
    store, database = pg_store, pg_database
    maintenance = EventLogMaintenance(store.engine, retention=timedelta(0))
    long_ago = NOW - timedelta(days=100)
    created = (await maintenance.run_once(long_ago)).created
    assert f"events_p{long_ago:%Y%m%d}" in created  # days around "now" are made ahead
    await store.events.write(docs(make_record(1, at=long_ago), make_record(2, at=NOW)))
    partition = f"events_p{long_ago:%Y%m%d}"
    counted = f"SELECT count(*) FROM {partition}"  # noqa: S608 - a name made from a date
    assert await database.rows(counted) == [(2,)]

    report = await EventLogMaintenance(store.engine, retention=DAYS_90).run_once(NOW)
    assert partition in report.dropped
    assert await store.events.count() == 2
    assert await database.rows("SELECT count(*) FROM events_default") == [(0,)]


async def test_postgres_moves_default_rows_into_a_new_day_and_stays_idempotent(
    pg_store: Store, pg_database: Database
) -> None:
    store, database = pg_store, pg_database
    ahead = NOW + timedelta(days=30)  # beyond the days made ahead: the default partition
    batch = docs(make_record(1, at=ahead))
    assert await store.events.write(batch) == 2
    assert await database.rows("SELECT count(*) FROM events_default") == [(2,)]
    report = await EventLogMaintenance(store.engine, retention=DAYS_90).run_once(
        ahead - timedelta(days=1)
    )
    assert f"events_p{ahead:%Y%m%d}" in report.created
    assert await database.rows("SELECT count(*) FROM events_default") == [(0,)]
    counted = f"SELECT count(*) FROM events_p{ahead:%Y%m%d}"  # noqa: S608 - made from a date
    assert await database.rows(counted) == [(2,)]
    assert await store.events.write(batch) == 0  # still deduplicated after the move
    assert await store.events.count() == 2


async def test_postgres_one_maintainer_at_a_time(pg_store: Store, postgres_url: str) -> None:
    store = pg_store
    other = create_engine(postgres_url)
    try:
        async with other.connect() as holder:
            key = {"key": MAINTENANCE_LOCK_KEY}
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), key)
            skipped = await EventLogMaintenance(store.engine, retention=DAYS_90).run_once(NOW)
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), key)
        assert not skipped.ran
        assert (await EventLogMaintenance(store.engine, retention=DAYS_90).run_once(NOW)).ran
    finally:
        await other.dispose()
