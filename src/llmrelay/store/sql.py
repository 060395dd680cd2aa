"""Small SQL helpers shared by the repositories: portable upserts, transactions, errors.

Everything dialect-specific that repositories need is chosen here, once, so the
repositories themselves stay plain SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from llmrelay.errors import StoreError

WRITE_OPTION = "llmrelay_write"
"""Execution option marking a write transaction (SQLite begins it ``IMMEDIATE``)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def dialect_insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's ``INSERT`` construct, which has ``on_conflict_do_*``."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported database dialect {name!r} (use sqlite or postgresql)")


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table, key: Sequence[str]) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key))


def insert_adding_on_conflict(
    conn: AsyncConnection, table: Table, key: Sequence[str], summed: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET c = table.c + excluded.c`` per summed column."""
    stmt = dialect_insert(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + stmt.excluded[name] for name in summed},
    )


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction, committed on success, with database errors translated."""
    async with translated(), engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        yield conn


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only connection (one consistent snapshot), database errors translated."""
    async with translated(), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # READ COMMITTED would give each statement its own snapshot (a count and the
            # page it counts could disagree); read-only REPEATABLE READ never conflicts.
            await conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Turn SQLAlchemy/driver exceptions into :class:`StoreError` (the one place)."""
    try:
        yield
    except exc.SQLAlchemyError as err:
        raise StoreError(f"database error: {describe(err)}") from err
    except OSError as err:  # driver-level socket / file errors outside SQLAlchemy's wrapping
        raise StoreError(f"database error: {err}") from err


def describe(err: BaseException) -> str:
    """A short description without SQL parameters (engines also hide them)."""
    orig: Any = getattr(err, "orig", None)
    if orig is not None:
        return f"{type(orig).__name__}: {orig}"
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
