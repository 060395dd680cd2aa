"""Event documents as rows: the fast parser against a plain reading of the rules, and the
SQLite batch writer's statement count (it must not grow with the batch)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.errors import InvalidEventError
from llmrelay.store import open_store
from llmrelay.store.event_rows import (
    EVENT_COLUMNS,
    ROLLUP_COLUMNS,
    as_datetime,
    parse_event,
    rollup_rows,
)
from llmrelay.store.schema import events, usage_rollups
from llmrelay.store.sqlite_bulk import ROWS_PER_STATEMENT
from tests.store.conftest import KEY
from tests.store.test_events import docs, make_record


def test_row_orders_follow_the_tables() -> None:
    assert tuple(c.name for c in events.columns if c.name != "seq") == EVENT_COLUMNS
    assert tuple(c.name for c in usage_rollups.columns) == ROLLUP_COLUMNS


# --- a plain reading of the rules, with datetimes, to hold the fast parser to ------------


def _at(doc: Any, *path: str) -> Any:
    for part in path:
        doc = doc.get(part) if isinstance(doc, Mapping) else None
    return doc


def _text(value: object) -> str:
    return str(value).replace("\x00", "\ufffd")


def _reference(doc: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    moment = datetime.fromisoformat(str(doc["@timestamp"])).astimezone(UTC)
    spaces = _at(doc, "kibana", "space_ids")
    outcome, user = _at(doc, "event", "outcome"), _at(doc, "user", "name")
    row = {
        "event_id": _text(_at(doc, "event", "id")),
        "timestamp": moment,
        "space_id": _text(spaces[0] if isinstance(spaces, list) and spaces else "default"),
        "connector_id": _text(_at(doc, "kibana", "action", "id") or ""),
        "action": _text(_at(doc, "event", "action") or ""),
        "outcome": None if outcome is None else _text(outcome),
        "user_name": None if user is None else _text(user),
    }
    if row["action"] != "execute":
        return row, []
    usage = _at(doc, "kibana", "action", "execution", "gen_ai", "usage") or {}

    def tokens(name: str) -> int:
        value = _at(usage, name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    source = _at(doc, "llmrelay", "usage_source")
    cost = _at(doc, "llmrelay", "cost_usd")
    priced = type(cost) in (int, float) and 0 <= cost < 10**12
    buckets = (
        ("minute", moment.replace(second=0, microsecond=0)),
        ("hour", moment.replace(minute=0, second=0, microsecond=0)),
        ("day", moment.replace(hour=0, minute=0, second=0, microsecond=0)),
    )
    sums = (
        tokens("prompt_tokens"),
        tokens("completion_tokens"),
        tokens("total_tokens"),
        1,
        0 if row["outcome"] == "success" else 1,
        round(cost * 10**9) if priced else 0,  # nano-USD
        0 if priced else tokens("total_tokens"),
        0 if priced else 1,
    )
    key_tail = (
        row["space_id"],
        row["connector_id"],
        _text(_at(doc, "llmrelay", "model") or ""),
        row["user_name"] or "",
        _text(source or ("missing" if not usage else "response")),
        _text(_at(doc, "llmrelay", "endpoint") or "chat"),
        _text(_at(doc, "llmrelay", "route_id") or ""),
    )
    return row, [(interval, bucket, *key_tail, *sums) for interval, bucket in buckets]


_odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["prompt_tokens", "total_tokens"]), st.integers(0, 9)),
)
_moments = st.datetimes(
    min_value=datetime(1960, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
    ),
)


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, Any]:
    moment = draw(_moments)
    usage = draw(
        st.one_of(
            _odd,
            st.fixed_dictionaries(
                {},
                optional={
                    name: _odd for name in ("prompt_tokens", "completion_tokens", "total_tokens")
                },
            ),
        )
    )
    return {
        "@timestamp": moment.isoformat(),
        "event": {
            "id": draw(st.text(min_size=1, max_size=6)),
            "action": draw(st.sampled_from(["execute", "execute-start", None, "x\x00"])),
            "outcome": draw(st.sampled_from(["success", "failure", None, 3])),
        },
        "kibana": {
            "space_ids": draw(st.one_of(st.lists(st.text(max_size=3), max_size=2), _odd)),
            "action": {"id": draw(_odd), "execution": {"gen_ai": {"usage": usage}}},
        },
        "user": draw(st.one_of(_odd, st.fixed_dictionaries({"name": _odd}))),
        "llmrelay": {
            "model": draw(_odd),
            "usage_source": draw(_odd),
            "endpoint": draw(st.one_of(st.sampled_from(["chat", "embeddings"]), _odd)),
            "route_id": draw(st.one_of(st.text(max_size=3), _odd)),
            "cost_usd": draw(st.one_of(st.floats(0, 10), _odd)),
        },
    }


@settings(max_examples=300, deadline=None)
@given(doc=_documents())
def test_parse_event_matches_the_rules(doc: dict[str, Any]) -> None:
    parsed = parse_event(doc)
    expected_row, expected_rollups = _reference(doc)
    row = dict(zip(EVENT_COLUMNS, parsed.row, strict=True))
    assert orjson.loads(row.pop("document")) == orjson.loads(orjson.dumps(doc))
    row["timestamp"] = as_datetime(row["timestamp"])
    assert row == expected_row
    rollups = [(r[0], as_datetime(r[1]), *r[2:]) for r in rollup_rows([parsed])]
    assert rollups == sorted(expected_rollups)


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"@timestamp": "2024-03-01T10:00:00Z"}, "without a string event.id"),
        ({"event": {"id": ""}, "@timestamp": "2024-03-01T10:00:00Z"}, "without a string event.id"),
        ({"event": {"id": 7}, "@timestamp": "2024-03-01T10:00:00Z"}, "without a string event.id"),
        ({"event": {"id": "e"}}, "e: missing or invalid @timestamp"),
        ({"event": {"id": "e"}, "@timestamp": None}, "e: missing or invalid @timestamp"),
        ({"event": {"id": "e"}, "@timestamp": "yesterday"}, "e: missing or invalid @timestamp"),
        (
            {"event": {"id": "e"}, "@timestamp": "2024-03-01T10:00:00"},
            "e: @timestamp has no time zone",
        ),
    ],
)
def test_documents_the_log_cannot_keep_are_named(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        parse_event(doc)


def test_rollups_sum_per_key_in_one_lock_order() -> None:
    later = make_record(2, at=datetime(2024, 3, 1, 10, 0, 30, tzinfo=UTC), tokens=(1, 1))
    parsed = [parse_event(d) for d in docs(make_record(1), later, make_record(3, user="bob"))]
    rows = rollup_rows(parsed)
    assert rows == sorted(rows)
    alice_minute = [r for r in rows if r[0] == "minute" and r[5] == "alice"]
    # gpt-4o: 2.50 USD per million input tokens, 10 per million output = 2,500 and
    # 10,000 nano-USD per token; priced, so nothing unpriced
    cost = 11 * 2_500 + 6 * 10_000
    assert alice_minute[0][7:9] == ("chat", "")
    assert len(alice_minute) == 1 and alice_minute[0][9:] == (11, 6, 17, 2, 0, cost, 0, 0)
    assert len(rows) == 6  # minute, hour, day for alice and for bob


async def test_sqlite_batches_take_a_statement_per_hundred_rows(tmp_path: Path) -> None:
    """Many rows per statement: ``executemany`` gave up and re-took the GIL for every row,
    and under load each re-take waits for the busy event loop (up to 5 ms)."""
    store = await open_store(f"sqlite:///{tmp_path / 'llmrelay.db'}", encryption_key=KEY)
    statements: list[str] = []
    try:
        async with store.engine.connect() as conn:  # the pool's one connection, traced
            pooled = await conn.get_raw_connection()
            await pooled.driver_connection.set_trace_callback(statements.append)
        counts = []
        for first, size in ((0, 2), (2, 300)):
            statements.clear()
            batch = docs(*(make_record(n) for n in range(first, first + size)))
            assert await store.events.write(batch) == 2 * size
            counts.append(len(statements))
        statements.clear()
        assert await store.events.write(batch) == 0  # all stored: lookup, no insert
        assert len(statements) < counts[1]
        assert await store.events.count() == 604
    finally:
        await store.close()
    assert counts[0] == 5  # BEGIN, lookup, insert, rollups, COMMIT
    assert counts[1] == counts[0] - 1 + 600 // ROWS_PER_STATEMENT  # the insert, in chunks
