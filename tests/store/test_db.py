from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.store import Store, create_engine, default_url, open_store
from llmrelay.store.migrations import MIGRATIONS, Migration, current_version, migrate
from tests.store.conftest import KEY, raw_bytes


async def test_open_creates_parent_dir_and_migrates(db_path: Path, db_url: str) -> None:
    async with await open_store(db_url, encryption_key=KEY) as store:
        assert await current_version(store.engine) == MIGRATIONS[-1].version
        await store.ping()
    assert raw_bytes(db_path).startswith(b"SQLite format 3")


async def test_migrations_are_idempotent(db_path: Path, db_url: str) -> None:
    async with await open_store(db_url, encryption_key=KEY) as store:
        await store.connectors.create(
            space_id="default",
            id="c1",
            name="n",
            connector_type_id=".gen-ai",
            config={},
            secrets={"apiKey": "x"},
        )
    async with await open_store(db_url, encryption_key=KEY) as store:
        assert await migrate(store.engine) == []
        assert (await store.connectors.get("default", "c1")).secrets == {"apiKey": "x"}
    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT version FROM schema_version").fetchall()
    raw.close()
    assert rows == [(m.version,) for m in MIGRATIONS]


async def test_pending_steps_run_once_in_order(db_url: str) -> None:
    calls: list[int] = []
    steps = (
        *MIGRATIONS,
        Migration(2, "two", lambda conn: calls.append(2)),
        Migration(3, "three", lambda conn: calls.append(3)),
    )
    engine = create_engine(db_url)
    try:
        assert await migrate(engine, steps) == [1, 2, 3]
        assert await migrate(engine, steps) == []
        assert calls == [2, 3]
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
            await migrate(engine, (*MIGRATIONS, Migration(2, "boom", boom)))
        assert await migrate(engine) == [1]  # nothing of the failed run was kept
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
