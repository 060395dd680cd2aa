"""Frozen migrations: every way of reaching a version gives the same schema, on both backends.

Schemas are compared by what the database's own catalog says (:func:`catalog`), never by
the DDL text that made them: on SQLite ``sqlite_master`` (whitespace normalised) and the
``PRAGMA`` lists of columns, indexes and foreign keys; on PostgreSQL the relations (with
their partitioning), ``information_schema.columns``, ``pg_indexes``, the constraints and
the sequences.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, MetaData, Text, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.store import create_engine, schema
from llmrelay.store.migrations import MIGRATIONS, migrate
from llmrelay.store.sql import utcnow
from tests.fixtures.postgres import PostgresCluster

Catalog = dict[str, list[tuple[Any, ...]]]


def _normalised(sql: str | None) -> str | None:
    """DDL text up to whitespace (SQLite keeps the text as written)."""
    if sql is None:
        return None
    flat = re.sub(r"\s+", " ", sql)
    return re.sub(r" ,", ",", re.sub(r" \)", ")", re.sub(r"\( ", "(", flat)))


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(sql))]


def _sqlite_catalog(conn: Connection) -> Catalog:
    objects = _rows(conn, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
    found: Catalog = {"objects": [(t, n, tbl, _normalised(sql)) for t, n, tbl, sql in objects]}
    for kind, name, _table, _sql in objects:
        if kind == "table":
            found[f"{name}.columns"] = _rows(conn, f'PRAGMA table_xinfo("{name}")')
            found[f"{name}.foreign_keys"] = _rows(conn, f'PRAGMA foreign_key_list("{name}")')
            indexes = _rows(conn, f'PRAGMA index_list("{name}")')
            found[f"{name}.indexes"] = sorted(row[1:] for row in indexes)  # not the seq
        elif kind == "index":
            found[f"{name}.index_columns"] = _rows(conn, f'PRAGMA index_xinfo("{name}")')
    return found


_PG_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind, c.relispartition, pg_get_expr(c.relpartbound, c.oid),
               pg_get_partkeydef(c.oid), c.relpersistence
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() ORDER BY c.relname""",
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, is_nullable,
               column_default, character_maximum_length, numeric_precision,
               datetime_precision, is_identity, collation_name
        FROM information_schema.columns WHERE table_schema = current_schema()
        ORDER BY table_name, ordinal_position""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = current_schema() ORDER BY tablename, indexname""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid),
               condeferrable, convalidated
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type, start_value, min_value, max_value, increment_by,
               cycle, cache_size
        FROM pg_sequences WHERE schemaname = current_schema() ORDER BY sequencename""",
    "owned_sequences": """
        SELECT s.relname, t.relname, a.attname
        FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE n.nspname = current_schema() AND d.deptype = 'a' ORDER BY 1""",
}


def _postgres_catalog(conn: Connection) -> Catalog:
    return {name: _rows(conn, sql) for name, sql in _PG_QUERIES.items()}


async def catalog(engine: AsyncEngine) -> Catalog:
    """The schema of the database behind ``engine``, from its catalog, plus the applied
    steps (``schema_version`` without the times)."""

    def read(conn: Connection) -> Catalog:
        postgres = conn.dialect.name == "postgresql"
        found = _postgres_catalog(conn) if postgres else _sqlite_catalog(conn)
        found["versions"] = _rows(conn, "SELECT version, name FROM schema_version ORDER BY 1")
        return found

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def assert_same(actual: Catalog, expected: Catalog) -> None:
    """Per part, so a failure names the table, index or constraint that differs."""
    assert actual.keys() == expected.keys()
    for part, rows in expected.items():
        assert actual[part] == rows, f"schemas differ in {part}"


@pytest.fixture
async def engines(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], AsyncEngine]]:
    """Makes engines on new, empty databases of the test's backend (disposed at the end)."""
    made: list[AsyncEngine] = []
    databases: list[str] = []
    cluster: PostgresCluster | None = None
    if backend == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")

    def new() -> AsyncEngine:
        if cluster is not None:
            databases.append(cluster.acquire())
            url = cluster.url(databases[-1])
        else:
            url = f"sqlite:///{tmp_path / f'db{len(made)}' / 'llmrelay.db'}"
        made.append(create_engine(url))
        return made[-1]

    yield new
    for engine in made:
        await engine.dispose()
    if cluster is not None:
        for name in databases:
            cluster.release(name)


def _insert_v1_event(conn: Connection) -> None:
    """One event row as version 1 stores it (raw SQL: ``schema.py`` is the latest)."""
    conn.execute(
        text(
            'INSERT INTO events (event_id, "timestamp", space_id, connector_id, action, '
            "document) VALUES ('e1', :at, 'default', 'c1', 'execute', '{}')"
        ).bindparams(bindparam("at", type_=schema.UtcDateTime())),
        {"at": utcnow()},
    )


async def test_fresh_database_equals_one_upgraded_step_by_step(
    engines: Callable[[], AsyncEngine],
) -> None:
    """Version 1 with data in it, then one step per opening, ends where a fresh one does."""
    fresh, upgraded = engines(), engines()
    assert await migrate(fresh) == [m.version for m in MIGRATIONS]
    assert await migrate(upgraded, MIGRATIONS[:1]) == [1]
    async with upgraded.begin() as conn:
        await conn.run_sync(_insert_v1_event)
    for step in MIGRATIONS[1:]:
        assert await migrate(upgraded, [m for m in MIGRATIONS if m.version <= step.version]) == [
            step.version
        ]
    assert_same(await catalog(upgraded), await catalog(fresh))
    async with upgraded.connect() as conn:  # and the upgrade kept the row
        assert (await conn.execute(text("SELECT event_id FROM events"))).all() == [("e1",)]


async def test_editing_schema_py_does_not_change_the_migrations(
    engines: Callable[[], AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drift of issue 14: a column added to ``schema.py`` alone (here to a copy of
    every table) stays out of new databases; it takes a migration of its own."""
    before, after = engines(), engines()
    await migrate(before)
    for name, table in schema.metadata.tables.items():
        edited = table.to_metadata(MetaData())
        edited.append_column(Column("added_later", Text, nullable=True))
        monkeypatch.setattr(schema, name, edited)
    await migrate(after)
    assert_same(await catalog(after), await catalog(before))
    assert "added_later" in schema.users.c


def test_versions_are_consecutive_from_1() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def _insert_v3_rollup(conn: Connection) -> None:
    """One rollup row as versions 1-3 store it (raw SQL: ``schema.py`` is the latest)."""
    conn.execute(
        text(
            "INSERT INTO usage_rollups (interval, bucket, space_id, connector_id, model, "
            "user_name, usage_source, prompt_tokens, completion_tokens, total_tokens, "
            "executions, failures) VALUES ('hour', :at, 'default', 'c1', 'gpt-4o', 'alice', "
            "'response', 10, 5, 15, 3, 1)"
        ).bindparams(bindparam("at", type_=schema.UtcDateTime())),
        {"at": utcnow().replace(minute=0, second=0, microsecond=0)},
    )


async def test_v4_keeps_rollups_as_chat_without_a_cost(
    engines: Callable[[], AsyncEngine],
) -> None:
    """Rows of earlier versions were chat executions (the only endpoint there was) whose
    cost nobody computed: after migration 4 they are chat, outside any route, unpriced."""
    engine = engines()
    assert await migrate(engine, MIGRATIONS[:3]) == [1, 2, 3]
    async with engine.begin() as conn:
        await conn.run_sync(_insert_v3_rollup)
    assert await migrate(engine, MIGRATIONS[:4]) == [4]
    r = schema.usage_rollups.c
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    r.model,
                    r.endpoint,
                    r.route_id,
                    r.total_tokens,
                    r.executions,
                    r.cost_nano_usd,
                    r.unpriced_tokens,
                    r.unpriced_executions,
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [("gpt-4o", "chat", "", 15, 3, 0, 15, 3)]
