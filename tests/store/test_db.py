from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.store import Store, create_engine, default_url, open_store
from llmrelay.store.db import async_url
from llmrelay.store.migrations import (
    ADVISORY_LOCK_KEY,
    MIGRATIONS,
    Migration,
    migrate,
)
from tests.store.conftest import KEY, Database, raw_bytes


async def current_version(engine: AsyncEngine) -> int:
    """The highest step recorded in ``schema_version``."""
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT max(version) FROM schema_version")) or 0)


async def test_open_creates_parent_dir_and_migrates(db_path: Path, db_url: str) -> None:
    async with await open_store(db_url, encryption_key=KEY) as store:
        assert await current_version(store.engine) == MIGRATIONS[-1].version
        await store.ping()
    assert raw_bytes(db_path).startswith(b"SQLite format 3")


async def test_migrations_are_idempotent(db_url: str, database: Database) -> None:
    async with await open_store(db_url, encryption_key=KEY) as store:
        assert await current_version(store.engine) == MIGRATIONS[-1].version
        await store.connectors.create(
            space_id="default",
            id="c1",
            name="n",
            connector_type_id=".gen-ai",
            config={},
            secrets={"apiKey": "x"},
        )
    async with await open_store(db_url, encryption_key=KEY) as store:
        await store.ping()
        assert await migrate(store.engine) == []
        assert (await store.connectors.get("default", "c1")).secrets == {"apiKey": "x"}
    rows = await database.rows("SELECT version FROM schema_version ORDER BY version")
    assert rows == [(m.version,) for m in MIGRATIONS]


async def test_concurrent_openers_migrate_once(db_url: str, database: Database) -> None:
    """Replicas starting together: every opener succeeds, each step runs exactly once."""
    calls: list[int] = []
    last = MIGRATIONS[-1].version
    steps = (*MIGRATIONS, Migration(last + 1, "counted", lambda conn: calls.append(last + 1)))
    engines = [create_engine(db_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(engine, steps) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(results) == [[], [], [], list(range(1, last + 2))]
    assert calls == [last + 1]
    rows = await database.rows("SELECT version FROM schema_version ORDER BY version")
    assert rows == [(v,) for v in range(1, last + 2)]


async def test_concurrent_open_store_on_a_fresh_database(db_url: str) -> None:
    first, second = await asyncio.gather(
        open_store(db_url, encryption_key=KEY), open_store(db_url, encryption_key=KEY)
    )
    async with first, second:
        latest = MIGRATIONS[-1].version
        assert await current_version(first.engine) == await current_version(second.engine) == latest
        await first.users.create_user("ann", "pw", [])
        assert await second.users.get_user("ann") is not None


async def test_pending_steps_run_once_in_order(db_url: str) -> None:
    calls: list[int] = []
    last = MIGRATIONS[-1].version
    steps = (
        *MIGRATIONS,
        Migration(last + 1, "two", lambda conn: calls.append(last + 1)),
        Migration(last + 2, "three", lambda conn: calls.append(last + 2)),
    )
    engine = create_engine(db_url)
    try:
        assert await migrate(engine, steps) == list(range(1, last + 3))
        assert await migrate(engine, steps) == []
        assert calls == [last + 1, last + 2]
        with pytest.raises(StoreError, match="newer than this llmrelay"):
            await migrate(engine, MIGRATIONS)
    finally:
        await engine.dispose()


async def test_failed_step_rolls_back(db_url: str) -> None:
    def boom(conn: object) -> None:
        raise RuntimeError("step failed")

    engine = create_engine(db_url)
    try:
        with pytest.raises(RuntimeError):
            await migrate(
                engine, (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "boom", boom))
            )
        # nothing of the failed run was kept
        assert await migrate(engine) == [m.version for m in MIGRATIONS]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("key", ["", "short", "x" * 31])
async def test_short_encryption_key_is_a_configuration_error(db_url: str, key: str) -> None:
    with pytest.raises(ConfigurationError, match=r"xpack\.encryptedSavedObjects\.encryptionKey"):
        await open_store(db_url, encryption_key=key)


async def test_ping_reports_unreachable_database(tmp_path: Path) -> None:
    # a directory is not a database file: every connection attempt fails
    store = Store(create_engine(f"sqlite:///{tmp_path}"), encryption_key=KEY)
    try:
        with pytest.raises(StoreError, match="database error"):
            await store.ping()
    finally:
        await store.close()
        await _drain_aiosqlite_threads()


async def _drain_aiosqlite_threads() -> None:
    """aiosqlite stops the worker of a failed connect with a future nobody awaits; let it
    finish while this test's event loop still runs (else it reports to a closed loop)."""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


@pytest.mark.sqlite_only
async def test_sqlite_pragmas(store: Store) -> None:
    async with store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000


async def test_in_memory_database() -> None:
    async with await open_store("sqlite://", encryption_key=KEY) as store:
        await store.connectors.create(
            space_id="default",
            id="m",
            name="m",
            connector_type_id=".gen-ai",
            config={},
            secrets={},
        )
        assert [c.id for c in await store.connectors.list("default")] == ["m"]


def test_default_url(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/llmrelay.db"


def test_bad_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        create_engine("not a url")


# --- PostgreSQL only --------------------------------------------------------------------
async def test_postgres_migrations_wait_for_the_advisory_lock(postgres_url: str) -> None:
    """Whoever holds the migrations lock (another replica mid-migration) makes us wait."""
    holder_engine, engine = create_engine(postgres_url), create_engine(postgres_url)
    try:
        async with holder_engine.connect() as holder:
            lock = {"key": ADVISORY_LOCK_KEY}
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), lock)
            waiting = asyncio.create_task(migrate(engine))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), lock)
            assert await asyncio.wait_for(waiting, 10) == [m.version for m in MIGRATIONS]
    finally:
        await holder_engine.dispose()
        await engine.dispose()


async def test_postgres_column_types(postgres_url: str) -> None:
    async with await open_store(postgres_url, encryption_key=KEY) as store:
        pass
    database = Database(postgres_url, None)
    types = dict(
        await database.rows(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
    )
    assert types["connectors.created_at"] == "timestamp with time zone"
    assert types["events.timestamp"] == "timestamp with time zone"
    assert types["usage_rollups.bucket"] == "timestamp with time zone"
    assert types["connectors.is_missing_secrets"] == "boolean"
    assert types["connectors.secrets"] == "bytea"
    assert types["connectors.config"] == types["events.document"] == "text"
    assert types["events.seq"] == "bigint"
    assert store.engine.dialect.driver == "asyncpg"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_postgres_url_schemes_choose_asyncpg(scheme: str) -> None:
    assert async_url(f"{scheme}://u@localhost:5432/db").drivername == "postgresql+asyncpg"


async def test_postgres_unreachable_is_a_store_error(postgres_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(StoreError, match="database error"):
        await open_store(f"postgresql://postgres@127.0.0.1:{closed_port}/x", encryption_key=KEY)
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match="database error"):
        await open_store(missing, encryption_key=KEY)
