"""Tables of the store (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Times go through :class:`UtcDateTime`: ``timestamp with time zone`` on PostgreSQL, integer
microseconds since the epoch on SQLite (which has no time type); both are exact to the
microsecond and sort correctly. JSON (connector config, event documents) is stored as text
written by orjson on both, so what is read back is byte for byte what was written (the
connector config is bound into the secrets' AAD). Names and ids are unbounded ``TEXT``:
SQLite never enforces a ``VARCHAR`` length, so PostgreSQL must not either.

These are the tables as of the latest migration, for the queries; nothing creates tables
from here (each migration carries its own frozen DDL). Adding a column therefore means a new
migration with its DDL for both dialects and the same column here: the migration tests
compare this metadata with a migrated database and fail on any drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.types import TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC ``datetime`` <-> ``timestamptz`` (PostgreSQL) or epoch microseconds (SQLite)."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        if dialect.name == "postgresql":
            return value.astimezone(UTC)
        return (value - EPOCH) // timedelta(microseconds=1)

    def process_result_value(
        self, value: int | datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return EPOCH + timedelta(microseconds=value)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint.
_AutoId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("connector_type_id", Text, nullable=False),
    Column("config", Text, nullable=False),  # canonical JSON, in clear (bound as AAD)
    Column("secrets", LargeBinary, nullable=False),  # secretbox blob, never plaintext
    Column("is_missing_secrets", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    PrimaryKeyConstraint("space_id", "id", name="pk_connectors"),
)

users = Table(
    "users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),  # scrypt$... (never the password)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

user_grants = Table(
    "user_grants",
    metadata,
    Column(
        "user_name",
        Text,
        ForeignKey("users.name", ondelete="CASCADE", name="fk_user_grants_user"),
        nullable=False,
    ),
    Column("role", String(64), nullable=False),
    Column("space", Text, nullable=False),  # "*" = every space
    PrimaryKeyConstraint("user_name", "role", "space", name="pk_user_grants"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column(
        "owner",
        Text,
        ForeignKey("users.name", ondelete="CASCADE", name="fk_api_keys_owner"),
        nullable=True,
    ),
    Column("secret_hash", LargeBinary(32), nullable=False),  # HMAC-SHA256 under the pepper
    Column("created_at", UtcDateTime, nullable=False),
)

api_key_grants = Table(
    "api_key_grants",
    metadata,
    Column(
        "api_key_id",
        String(64),
        ForeignKey("api_keys.id", ondelete="CASCADE", name="fk_api_key_grants_key"),
        nullable=False,
    ),
    Column("role", String(64), nullable=False),
    Column("space", Text, nullable=False),
    PrimaryKeyConstraint("api_key_id", "role", "space", name="pk_api_key_grants"),
)

events = Table(
    "events",
    metadata,
    Column("seq", _AutoId, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("timestamp", UtcDateTime, nullable=False),  # the document's @timestamp
    Column("space_id", Text, nullable=False),
    Column("connector_id", Text, nullable=False),
    Column("action", Text, nullable=False),  # event.action
    Column("outcome", Text, nullable=True),
    Column("user_name", Text, nullable=True),
    Column("document", Text, nullable=False),  # the Kibana event document (orjson)
)
Index(
    "ix_events_space_connector_time", events.c.space_id, events.c.connector_id, events.c.timestamp
)
Index("ix_events_space_time", events.c.space_id, events.c.timestamp)

ROLLUP_KEY = (
    "interval",
    "bucket",
    "space_id",
    "connector_id",
    "model",
    "user_name",
    "usage_source",
    "endpoint",  # migration 4
    "route_id",  # migration 4
)
ROLLUP_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "executions",
    "failures",
    "cost_nano_usd",  # migration 4: priced executions' cost, 1e-9 USD (exact sums)
    "unpriced_tokens",  # migration 4: tokens of executions whose model has no price
    "unpriced_executions",  # migration 4
)

usage_rollups = Table(
    "usage_rollups",
    metadata,
    Column("interval", String(8), nullable=False),  # minute | hour | day
    Column("bucket", UtcDateTime, nullable=False),  # start of the bucket
    Column("space_id", Text, nullable=False),
    Column("connector_id", Text, nullable=False),
    Column("model", Text, nullable=False),  # "" when unknown (keys cannot be NULL)
    Column("user_name", Text, nullable=False),  # "" when unknown
    Column("usage_source", Text, nullable=False),
    Column("endpoint", Text, nullable=False),  # chat | embeddings | responses | completions
    Column("route_id", Text, nullable=False),  # "" when no route connector was used
    *(Column(name, BigInteger, nullable=False, default=0) for name in ROLLUP_SUMS),
    PrimaryKeyConstraint(*ROLLUP_KEY, name="pk_usage_rollups"),
)
Index(
    "ix_usage_rollups_space_bucket",
    usage_rollups.c.interval,
    usage_rollups.c.space_id,
    usage_rollups.c.bucket,
)

# --- limits (migration 3) ---------------------------------------------------------------------
LIMIT_FIGURES = (
    "requests_per_minute",
    "tokens_per_minute",
    "tokens_per_day",
    "tokens_per_month",
    "cost_usd_per_day",
    "cost_usd_per_month",
)

limits = Table(
    "limits",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("scope_kind", String(16), nullable=False),  # connector | user | api_key | space
    Column("scope_id", Text, nullable=False),
    *(Column(name, BigInteger, nullable=True) for name in LIMIT_FIGURES[:4]),
    *(Column(name, Double, nullable=True) for name in LIMIT_FIGURES[4:]),  # USD
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("space_id", "id", name="pk_limits"),
)

LIMIT_WINDOW_KEY = ("limit_id", "kind", "window_start")

limit_windows = Table(
    "limit_windows",
    metadata,
    Column("limit_id", Text, nullable=False),  # limits.id (UUIDs: unique across spaces)
    Column("kind", String(8), nullable=False),  # minute | day | month
    Column("window_start", UtcDateTime, nullable=False),  # UTC start of the calendar window
    Column("requests", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("cost_nano_usd", BigInteger, nullable=False),  # 1e-9 USD: exact integer sums
    PrimaryKeyConstraint(*LIMIT_WINDOW_KEY, name="pk_limit_windows"),
)

spaces = Table(
    "spaces",
    metadata,
    Column("id", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("id", name="pk_spaces"),
)
