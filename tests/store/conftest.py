"""Store fixtures: every store test runs on SQLite (a real file) and on PostgreSQL (a fresh
database of the session's throwaway cluster), plus fast password hashing.

Tests that need the SQLite file itself (``db_path``) or carry ``@pytest.mark.sqlite_only``
run on SQLite alone. :class:`Database` gives the rest backend-neutral ways to look under
the store: every stored value, and raw SQL to tamper with rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.store import Store, create_engine, open_store
from llmrelay.store import users as users_module
from tests.fixtures.postgres import BACKENDS

KEY = "an-encryption-key-of-at-least-32-characters"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a store test about SQLite itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    sqlite_only = "db_path" in metafunc.fixturenames or metafunc.definition.get_closest_marker(
        "sqlite_only"
    )
    metafunc.parametrize("backend", ["sqlite"] if sqlite_only else BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production scrypt costs ~0.5 s per hash; tests use a small N (format unchanged)."""
    monkeypatch.setattr(users_module, "PASSWORD_PARAMS", users_module.ScryptParams(n=2**10))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "llmrelay.db"


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'data' / 'llmrelay.db'}"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with await open_store(db_url, encryption_key=KEY) as opened:
        yield opened


@dataclass(frozen=True)
class Database:
    """The database behind ``store``, reached around the store's code."""

    url: str
    path: Path | None  # the SQLite file, None on PostgreSQL

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        engine = create_engine(self.url)
        try:
            async with engine.begin() as conn:
                yield conn
        finally:
            await engine.dispose()

    async def sql(self, statement: str, **params: Any) -> int:
        """Run one statement (``:name`` parameters) in its own transaction; rows affected."""
        async with self._connect() as conn:
            result = await conn.execute(text(statement), params)
            return int(result.rowcount)

    async def rows(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self._connect() as conn:
            return [tuple(row) for row in await conn.execute(text(statement), params)]

    async def values(self) -> bytes:
        """Every value of every column of every table, bytes as stored and text as UTF-8:
        what a dump of the database would reveal."""
        parts: list[bytes] = []
        async with self._connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            for table in sorted(tables):
                rows = await conn.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 - catalog names
                for row in rows:
                    for value in row:
                        if isinstance(value, bytes | bytearray | memoryview):
                            parts.append(bytes(value))
                        elif value is not None:
                            parts.append(str(value).encode())
        return b"\n".join(parts)

    async def stored_bytes(self) -> bytes:
        """What someone holding the database could read: on SQLite the files byte for byte
        (free pages included), on PostgreSQL every stored value."""
        if self.path is not None:
            return raw_bytes(self.path)
        return await self.values()


@pytest.fixture
def database(backend: str, db_url: str, tmp_path: Path) -> Database:
    path = tmp_path / "data" / "llmrelay.db" if backend == "sqlite" else None
    return Database(db_url, path)


def raw_bytes(db_path: Path) -> bytes:
    """The database file and its -wal / -shm companions, concatenated."""
    parts = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())
