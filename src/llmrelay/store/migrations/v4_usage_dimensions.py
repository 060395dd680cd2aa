"""Migration 4: rollups by endpoint and route, with their cost (issues 15, 16, 19).

``usage_rollups`` gains two key columns, ``endpoint`` (``chat``, ``embeddings``, ...) and
``route_id`` (``""`` when no route connector was used), and three sums: ``cost_nano_usd``
(the priced executions' cost in 1e-9 USD, exact as integers), and ``unpriced_tokens`` /
``unpriced_executions`` (executions whose model has no price). Rows written before this
version were all chat executions (the only endpoint there was) without a cost: they become
``endpoint = 'chat'`` and count as unpriced.

Both backends rebuild the table (SQLite cannot change a primary key, and the new key
columns sit with the others): the old one is renamed, copied and dropped. Frozen: never
edit; a schema change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import Connection

from llmrelay.store.migrations.runner import Statements, execute_all, statements_for

_COPY = """INSERT INTO usage_rollups SELECT interval, bucket, space_id, connector_id, model,
    user_name, usage_source, 'chat', '', prompt_tokens, completion_tokens, total_tokens,
    executions, failures, 0, total_tokens, executions FROM usage_rollups_v3"""
_INDEX = "CREATE INDEX ix_usage_rollups_space_bucket ON usage_rollups (interval, space_id, bucket)"

SQLITE: Statements = (
    "DROP INDEX ix_usage_rollups_space_bucket",
    "ALTER TABLE usage_rollups RENAME TO usage_rollups_v3",
    """CREATE TABLE usage_rollups (
    interval VARCHAR(8) NOT NULL,
    bucket BIGINT NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    model TEXT NOT NULL,
    user_name TEXT NOT NULL,
    usage_source TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    route_id TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    executions BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    cost_nano_usd BIGINT NOT NULL,
    unpriced_tokens BIGINT NOT NULL,
    unpriced_executions BIGINT NOT NULL,
    CONSTRAINT pk_usage_rollups
        PRIMARY KEY (interval, bucket, space_id, connector_id, model, user_name, usage_source,
            endpoint, route_id)
)""",
    _COPY,
    "DROP TABLE usage_rollups_v3",
    _INDEX,
)

POSTGRESQL: Statements = (
    "DROP INDEX ix_usage_rollups_space_bucket",
    "ALTER TABLE usage_rollups RENAME TO usage_rollups_v3",
    "ALTER TABLE usage_rollups_v3 RENAME CONSTRAINT pk_usage_rollups TO pk_usage_rollups_v3",
    """CREATE TABLE usage_rollups (
    interval VARCHAR(8) NOT NULL,
    bucket TIMESTAMP WITH TIME ZONE NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    model TEXT NOT NULL,
    user_name TEXT NOT NULL,
    usage_source TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    route_id TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    executions BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    cost_nano_usd BIGINT NOT NULL,
    unpriced_tokens BIGINT NOT NULL,
    unpriced_executions BIGINT NOT NULL,
    CONSTRAINT pk_usage_rollups
        PRIMARY KEY (interval, bucket, space_id, connector_id, model, user_name, usage_source,
            endpoint, route_id)
)""",
    _COPY,
    "DROP TABLE usage_rollups_v3",
    _INDEX,
)


def apply(conn: Connection) -> None:
    execute_all(conn, statements_for(conn, {"sqlite": SQLITE, "postgresql": POSTGRESQL}))
