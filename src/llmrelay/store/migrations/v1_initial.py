"""Migration 1: connectors, users, API keys, grants, events, usage rollups.

Frozen: this is the DDL SQLAlchemy compiled from ``schema.py`` as it stood at version 1
(whitespace aside), so databases created before the DDL was written out are identical to
new ones. Never edit it; a schema change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import Connection

from llmrelay.store.migrations.runner import Statements, execute_all, statements_for

SQLITE: Statements = (
    """CREATE TABLE connectors (
    space_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    connector_type_id TEXT NOT NULL,
    config TEXT NOT NULL,
    secrets BLOB NOT NULL,
    is_missing_secrets BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version INTEGER NOT NULL,
    CONSTRAINT pk_connectors PRIMARY KEY (space_id, id)
)""",
    """CREATE TABLE users (
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name)
)""",
    """CREATE TABLE user_grants (
    user_name TEXT NOT NULL,
    role VARCHAR(64) NOT NULL,
    space TEXT NOT NULL,
    CONSTRAINT pk_user_grants PRIMARY KEY (user_name, role, space),
    CONSTRAINT fk_user_grants_user FOREIGN KEY(user_name) REFERENCES users (name)
        ON DELETE CASCADE
)""",
    """CREATE TABLE api_keys (
    id VARCHAR(64) NOT NULL,
    name TEXT NOT NULL,
    owner TEXT,
    secret_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_owner FOREIGN KEY(owner) REFERENCES users (name) ON DELETE CASCADE
)""",
    """CREATE TABLE api_key_grants (
    api_key_id VARCHAR(64) NOT NULL,
    role VARCHAR(64) NOT NULL,
    space TEXT NOT NULL,
    CONSTRAINT pk_api_key_grants PRIMARY KEY (api_key_id, role, space),
    CONSTRAINT fk_api_key_grants_key FOREIGN KEY(api_key_id) REFERENCES api_keys (id)
        ON DELETE CASCADE
)""",
    """CREATE TABLE events (
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT,
    user_name TEXT,
    document TEXT NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE (event_id)
)""",
    "CREATE INDEX ix_events_space_connector_time ON events (space_id, connector_id, timestamp)",
    "CREATE INDEX ix_events_space_time ON events (space_id, timestamp)",
    """CREATE TABLE usage_rollups (
    interval VARCHAR(8) NOT NULL,
    bucket BIGINT NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    model TEXT NOT NULL,
    user_name TEXT NOT NULL,
    usage_source TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    executions BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    CONSTRAINT pk_usage_rollups
        PRIMARY KEY (interval, bucket, space_id, connector_id, model, user_name, usage_source)
)""",
    "CREATE INDEX ix_usage_rollups_space_bucket ON usage_rollups (interval, space_id, bucket)",
)

POSTGRESQL: Statements = (
    """CREATE TABLE connectors (
    space_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    connector_type_id TEXT NOT NULL,
    config TEXT NOT NULL,
    secrets BYTEA NOT NULL,
    is_missing_secrets BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    version INTEGER NOT NULL,
    CONSTRAINT pk_connectors PRIMARY KEY (space_id, id)
)""",
    """CREATE TABLE users (
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (name)
)""",
    """CREATE TABLE user_grants (
    user_name TEXT NOT NULL,
    role VARCHAR(64) NOT NULL,
    space TEXT NOT NULL,
    CONSTRAINT pk_user_grants PRIMARY KEY (user_name, role, space),
    CONSTRAINT fk_user_grants_user FOREIGN KEY(user_name) REFERENCES users (name)
        ON DELETE CASCADE
)""",
    """CREATE TABLE api_keys (
    id VARCHAR(64) NOT NULL,
    name TEXT NOT NULL,
    owner TEXT,
    secret_hash BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_owner FOREIGN KEY(owner) REFERENCES users (name) ON DELETE CASCADE
)""",
    """CREATE TABLE api_key_grants (
    api_key_id VARCHAR(64) NOT NULL,
    role VARCHAR(64) NOT NULL,
    space TEXT NOT NULL,
    CONSTRAINT pk_api_key_grants PRIMARY KEY (api_key_id, role, space),
    CONSTRAINT fk_api_key_grants_key FOREIGN KEY(api_key_id) REFERENCES api_keys (id)
        ON DELETE CASCADE
)""",
    """CREATE TABLE events (
    seq BIGSERIAL NOT NULL,
    event_id TEXT NOT NULL,
    timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT,
    user_name TEXT,
    document TEXT NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE (event_id)
)""",
    "CREATE INDEX ix_events_space_connector_time ON events (space_id, connector_id, timestamp)",
    "CREATE INDEX ix_events_space_time ON events (space_id, timestamp)",
    """CREATE TABLE usage_rollups (
    interval VARCHAR(8) NOT NULL,
    bucket TIMESTAMP WITH TIME ZONE NOT NULL,
    space_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    model TEXT NOT NULL,
    user_name TEXT NOT NULL,
    usage_source TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    executions BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    CONSTRAINT pk_usage_rollups
        PRIMARY KEY (interval, bucket, space_id, connector_id, model, user_name, usage_source)
)""",
    "CREATE INDEX ix_usage_rollups_space_bucket ON usage_rollups (interval, space_id, bucket)",
)


def apply(conn: Connection) -> None:
    execute_all(conn, statements_for(conn, {"sqlite": SQLITE, "postgresql": POSTGRESQL}))
