"""Migration 5: spaces created on purpose (issue 18).

A space otherwise exists implicitly, through its connectors and its grants; ``spaces`` holds
those an admin created before either, so the UI's space picker can tell a new space from a
mistyped one. Frozen: never edit; a schema change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import Connection

from llmrelay.store.migrations.runner import Statements, execute_all, statements_for

SQLITE: Statements = (
    """CREATE TABLE spaces (
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT pk_spaces PRIMARY KEY (id)
)""",
)

POSTGRESQL: Statements = (
    """CREATE TABLE spaces (
    id TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_spaces PRIMARY KEY (id)
)""",
)


def apply(conn: Connection) -> None:
    execute_all(conn, statements_for(conn, {"sqlite": SQLITE, "postgresql": POSTGRESQL}))
