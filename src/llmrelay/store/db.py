"""Opening the store: engine from a URL, SQLite pragmas, migrations, repositories.

SQLite is the embedded default (``sqlite:///<data dir>/llmrelay.db``); any URL SQLAlchemy
knows with an async driver works, PostgreSQL being the other supported target.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import event, exc, make_url, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.store.connectors import ConnectorRepository
from llmrelay.store.drivers import import_asyncpg
from llmrelay.store.events import EventRepository
from llmrelay.store.migrations import migrate
from llmrelay.store.secretbox import SecretBox, api_key_pepper, check_encryption_key
from llmrelay.store.spaces import SpaceRepository
from llmrelay.store.sql import WRITE_OPTION, reading
from llmrelay.store.users import UserRepository

DATABASE_FILE = "llmrelay.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def default_url(data_dir: str | Path) -> str:
    """The embedded SQLite database inside the data directory."""
    return f"sqlite+aiosqlite:///{Path(data_dir) / DATABASE_FILE}"


def async_url(url: str) -> URL:
    """Parse ``url``, choosing the async driver when none is named (``sqlite://``...)."""
    try:
        parsed = make_url(
            "postgresql" + url[len("postgres") :] if url.startswith("postgres:") else url
        )
    except (exc.ArgumentError, ValueError):
        # the message is not echoed: a malformed URL may still contain a password
        raise ConfigurationError("the database URL (LLMRELAY_DATABASE_URL) is not valid") from None
    if parsed.drivername in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    return parsed


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun explicitly (see _sqlite_begin), not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (  # the busy timeout first: switching a new file to WAL takes a lock too
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Write transactions take the write lock up front: a deferred transaction that reads
    # and then writes could fail with SQLITE_BUSY at once instead of waiting.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; for SQLite files the parent directory is created."""
    parsed = async_url(url)
    options: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        if _is_memory(parsed):
            options["poolclass"] = pool.StaticPool  # one shared in-memory database
        else:
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        options["pool_pre_ping"] = True  # replicas outlive database restarts and failovers
        if parsed.get_backend_name() == "postgresql":
            if parsed.get_driver_name() == "asyncpg":
                import_asyncpg()  # missing: name the extra rather than the module
            options["connect_args"] = {"server_settings": {"application_name": "llmrelay"}}
    try:
        engine = create_async_engine(parsed, **options)
    except (exc.ArgumentError, ImportError) as err:  # unknown dialect, driver not installed
        raise ConfigurationError(f"cannot use database URL {parsed!r}: {err}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


class Store:
    """The open store: repositories over one engine. Use ``async with`` or :meth:`close`."""

    def __init__(self, engine: AsyncEngine, *, encryption_key: str) -> None:
        self.engine = engine
        self.connectors = ConnectorRepository(engine, SecretBox(encryption_key))
        self.users = UserRepository(engine, api_key_pepper(encryption_key))
        self.events = EventRepository(engine)
        self.spaces = SpaceRepository(engine)

    async def ping(self) -> None:
        """Raise :class:`StoreError` when the database cannot be reached."""
        async with reading(self.engine) as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_store(url: str, *, encryption_key: str) -> Store:
    """Open (creating if needed) and migrate the database at ``url``."""
    check_encryption_key(encryption_key)
    engine = create_engine(url)
    try:
        await migrate(engine)
        return Store(engine, encryption_key=encryption_key)
    except BaseException:
        await engine.dispose()
        raise


__all__ = ["Store", "StoreError", "create_engine", "default_url", "open_store"]
