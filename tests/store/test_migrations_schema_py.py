"""``schema.py`` agrees with the migrated database, on both backends.

The queries are built from the Core tables of ``schema.py`` while the tables are made by
the frozen migrations; this is what keeps the two in step. For every table: the columns
(order, type as the dialect spells it, nullability, defaults), the primary key, unique
constraints, indexes and foreign keys, read back by SQLAlchemy's inspector.

Migration 2 does two things the Core tables do not describe, listed once below: the time
index on SQLite, and the day partitioning of ``events`` on PostgreSQL, whose keys must
include the partition column.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKeyConstraint,
    Index,
    Inspector,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Dialect

from llmrelay.store import Store, open_store, schema
from tests.store.conftest import KEY

# (table, index name, columns, unique)
SQLITE_ONLY_INDEXES = {("events", "ix_events_time", ("timestamp",), False)}
# table -> partition column (also appended to the primary key and unique constraints)
POSTGRESQL_PARTITIONED = {"events": "timestamp"}
POSTGRESQL_PK_NAMES = {"events": "pk_events"}  # named by migration 2
AUTO_DEFAULT = "<autoincrement>"


def _type(type_: Any, dialect: Dialect) -> str:
    return str(type_.compile(dialect=dialect))


def _expected(table: Table, dialect: Dialect) -> dict[str, Any]:
    postgres = dialect.name == "postgresql"
    partition = POSTGRESQL_PARTITIONED.get(table.name) if postgres else None
    extra = (partition,) if partition else ()
    pk = next(c for c in table.constraints if isinstance(c, PrimaryKeyConstraint))
    auto = table.autoincrement_column
    indexes: set[tuple[str, tuple[str, ...], bool]] = {
        (str(ix.name), tuple(c.name for c in ix.columns), bool(ix.unique))
        for ix in table.indexes
        if isinstance(ix, Index)
    }
    if not postgres:
        indexes |= {(n, cols, u) for t, n, cols, u in SQLITE_ONLY_INDEXES if t == table.name}
    return {
        "columns": [
            (
                c.name,
                _type(c.type, dialect),
                c.nullable,
                AUTO_DEFAULT if postgres and c is auto else c.server_default,
            )
            for c in table.columns
        ],
        "primary_key": (
            POSTGRESQL_PK_NAMES.get(table.name, pk.name) if postgres else pk.name,
            (*pk.columns.keys(), *extra),
        ),
        "unique": sorted(
            (*c.columns.keys(), *extra)
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        ),
        "indexes": indexes,
        "foreign_keys": sorted(
            (
                str(fk.name),
                tuple(fk.column_keys),
                fk.referred_table.name,
                tuple(e.column.name for e in fk.elements),
                fk.ondelete,
            )
            for fk in table.constraints
            if isinstance(fk, ForeignKeyConstraint)
        ),
    }


def _actual(inspector: Inspector, name: str, named_pk: bool) -> dict[str, Any]:
    dialect = inspector.dialect
    pk = inspector.get_pk_constraint(name)
    return {
        "columns": [
            (
                c["name"],
                _type(c["type"], dialect),
                c["nullable"],
                AUTO_DEFAULT
                if str(c.get("default") or "").startswith("nextval(")
                else c.get("default"),
            )
            for c in inspector.get_columns(name)
        ],
        # unnamed primary keys get a name from PostgreSQL (``users_pkey``), none on SQLite
        "primary_key": (pk["name"] if named_pk else None, tuple(pk["constrained_columns"])),
        "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)),
        "indexes": {
            (str(ix["name"]), tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(name)
            if "duplicates_constraint" not in ix  # PostgreSQL: a unique constraint's index
        },
        "foreign_keys": sorted(
            (
                str(fk["name"]),
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
                fk["options"].get("ondelete"),
            )
            for fk in inspector.get_foreign_keys(name)
        ),
    }


def _compare(conn: Connection) -> list[str]:
    """What differs between ``schema.metadata`` and the database (empty when they agree)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if conn.dialect.name == "postgresql":
        tables -= set(
            conn.execute(text("SELECT relname FROM pg_class WHERE relispartition")).scalars()
        )
    problems = []
    declared = set(schema.metadata.tables)
    if tables != declared:
        problems.append(f"tables: database {sorted(tables)}, schema.py {sorted(declared)}")
    for table in schema.metadata.sorted_tables:
        if table.name not in tables:
            continue
        expected = _expected(table, conn.dialect)
        actual = _actual(inspector, table.name, named_pk=expected["primary_key"][0] is not None)
        problems += [
            f"{table.name} {part}: database {actual[part]}, schema.py {value}"
            for part, value in expected.items()
            if actual[part] != value
        ]
    return problems


async def test_schema_py_matches_the_migrated_database(store: Store) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_compare) == []


async def test_postgres_events_are_partitioned_by_time(postgres_url: str) -> None:
    """The partitioning that ``POSTGRESQL_PARTITIONED`` stands for is really there."""
    async with (
        await open_store(postgres_url, encryption_key=KEY) as store,
        store.engine.connect() as conn,
    ):
        for table, column in POSTGRESQL_PARTITIONED.items():
            key = await conn.scalar(
                text("SELECT pg_get_partkeydef(to_regclass(:table))"), {"table": table}
            )
            assert key == f'RANGE ("{column}")'


async def test_the_comparison_sees_drift(store: Store) -> None:
    """A column, index or key that only one side has is reported (the check can fail)."""
    async with store.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE users ADD COLUMN nickname TEXT"))
        await conn.execute(text("DROP INDEX ix_usage_rollups_space_bucket"))
        await conn.execute(text("CREATE INDEX ix_extra ON connectors (name)"))
        problems = await conn.run_sync(_compare)
    assert sorted(p.split(":")[0] for p in problems) == [
        "connectors indexes",
        "usage_rollups indexes",
        "users columns",
    ]
