from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.domain.event_documents import execute_document, start_document
from llmrelay.domain.events import ExecutionRecord, TokenUsage, UsageSource
from llmrelay.domain.prices import execution_cost
from llmrelay.errors import InvalidEventError
from llmrelay.store import Store, open_store
from llmrelay.store.events import INTERVALS, GroupBy, Interval
from tests.helpers.soak import scaled
from tests.store.conftest import KEY

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
SERVER = {"server_uuid": "srv", "version": "8.15.0"}


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def make_record(
    n: int,
    *,
    at: datetime = T0,
    connector: str = "c1",
    space: str = "default",
    user: str | None = "alice",
    model: str | None = "gpt-4o",
    outcome: Literal["success", "failure"] = "success",
    tokens: tuple[int, int] = (10, 5),
    source: UsageSource = "response",
) -> ExecutionRecord:
    usage = (
        TokenUsage.missing()
        if source == "missing"
        else TokenUsage(tokens[0], tokens[1], sum(tokens), source)
    )
    return ExecutionRecord(
        execution_id=f"x{n}",
        connector_id=connector,
        connector_name=connector,
        connector_type_id=".gen-ai",
        sub_action="run",
        space_id=space,
        user_name=user,
        started_ns=_ns(at) - 1_000_000,
        ended_ns=_ns(at),
        outcome=outcome,
        model=model,
        usage=usage,
        error_message=None if outcome == "success" else "an error occurred",
    )


def docs(*records: ExecutionRecord) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rec in records:
        # priced as the event sink prices it (the shipped table)
        cost = execution_cost(rec.model, rec.recorded_usage)
        out += [start_document(rec, **SERVER), execute_document(rec, cost=cost, **SERVER)]
    return out


async def totals(store: Store, interval: Interval = "day", **kw: Any) -> dict[str, int]:
    rows = await store.events.usage(
        space_id=kw.pop("space_id", "default"),
        start=T0 - timedelta(days=2),
        end=T0 + timedelta(days=2),
        interval=interval,
        group_by=None,
        **kw,
    )
    keys = (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "executions",
        "failures",
        "estimated_tokens",
        "reported_tokens",
    )
    return {k: sum(r[k] for r in rows) for k in keys}


async def test_write_is_idempotent(store: Store) -> None:
    batch = docs(make_record(1), make_record(2, tokens=(1, 2)))
    assert await store.events.write(batch) == 4
    assert await store.events.write(batch) == 0
    assert await store.events.write(batch + batch) == 0
    assert await store.events.count() == 4
    assert await totals(store) == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "executions": 2,
        "failures": 0,
        "estimated_tokens": 0,
        "reported_tokens": 18,
    }


async def test_duplicates_within_one_batch_count_once(store: Store) -> None:
    doc = execute_document(make_record(1), **SERVER)
    assert await store.events.write([doc, doc, doc]) == 1
    assert (await totals(store))["executions"] == 1


async def test_rollups_equal_event_sums_per_interval(store: Store) -> None:
    records = [
        make_record(1, at=T0 + timedelta(seconds=5)),
        make_record(2, at=T0 + timedelta(minutes=1, seconds=1), source="estimated"),
        make_record(3, at=T0 + timedelta(hours=1), source="stream", tokens=(100, 50)),
        make_record(4, at=T0 + timedelta(days=1), outcome="failure"),
        make_record(5, at=T0, source="missing"),
    ]
    await store.events.write(docs(*records))
    expected = {
        "prompt_tokens": 120,
        "completion_tokens": 60,
        "total_tokens": 180,
        "executions": 5,
        "failures": 1,
        "estimated_tokens": 15,
        "reported_tokens": 165,
    }
    for interval in INTERVALS:
        assert await totals(store, interval) == expected
    minutes = await store.events.usage(
        space_id="default",
        start=T0,
        end=T0 + timedelta(hours=2),
        interval="minute",
        group_by=None,
    )
    assert [(r["bucket"], r["executions"]) for r in minutes] == [
        ("2024-03-01T10:00:00.000Z", 2),
        ("2024-03-01T10:01:00.000Z", 1),
        ("2024-03-01T11:00:00.000Z", 1),
    ]


async def test_usage_grouped(store: Store) -> None:
    await store.events.write(
        docs(
            make_record(1, user="alice", connector="c1", model="gpt-4o"),
            make_record(2, user="bob", connector="c1", model="gpt-4o-mini", tokens=(1, 1)),
            make_record(3, user="bob", connector="c2", model="gpt-4o", tokens=(2, 2)),
            make_record(4, user=None, connector="c2", model=None, tokens=(3, 3)),
            make_record(5, space="other", user="carol", tokens=(1000, 1)),
        )
    )

    async def grouped(group_by: GroupBy, interval: Interval = "hour", **kw: Any) -> dict[Any, int]:
        rows = await store.events.usage(
            space_id="default",
            start=T0,
            end=T0 + timedelta(hours=1),
            interval=interval,
            group_by=group_by,
            **kw,
        )
        assert all(r["bucket"].startswith("2024-03-01T") for r in rows)
        return {r["key"]: r["total_tokens"] for r in rows}

    assert await grouped("user") == {"alice": 15, "bob": 6, None: 6}
    assert await grouped("connector", "minute") == {"c1": 17, "c2": 10}
    assert await grouped("model", "day") == {"gpt-4o": 19, "gpt-4o-mini": 2, None: 6}
    assert await grouped("user", connector_id="c2") == {"bob": 4, None: 6}
    assert (await totals(store, space_id="other"))["total_tokens"] == 1001


async def test_usage_time_range_excludes_other_buckets(store: Store) -> None:
    await store.events.write(
        docs(make_record(1, at=T0), make_record(2, at=T0 + timedelta(hours=3)))
    )
    rows = await store.events.usage(
        space_id="default",
        start=T0 + timedelta(minutes=30),
        end=T0 + timedelta(hours=1),
        interval="hour",
        group_by=None,
    )
    assert [(r["bucket"], r["executions"]) for r in rows] == [("2024-03-01T10:00:00.000Z", 1)]


async def test_find_pages_newest_first(store: Store) -> None:
    records = [make_record(i, at=T0 + timedelta(minutes=i)) for i in range(7)]
    await store.events.write(docs(*records))
    await store.events.write(docs(make_record(99, connector="other")))
    total, page1 = await store.events.find(
        space_id="default", connector_id="c1", per_page=4, action="execute"
    )
    assert total == 7
    assert [d["event"]["id"] for d in page1] == [f"x{i}:execute" for i in (6, 5, 4, 3)]
    total, page2 = await store.events.find(
        space_id="default", connector_id="c1", page=2, per_page=4, action="execute"
    )
    assert [d["event"]["id"] for d in page2] == [f"x{i}:execute" for i in (2, 1, 0)]
    total, all_docs = await store.events.find(space_id="default", connector_id="c1", per_page=100)
    assert total == 14  # start and execute documents
    timestamps = [d["@timestamp"] for d in all_docs]
    assert timestamps == sorted(timestamps, reverse=True)
    cost = execution_cost(records[6].model, records[6].recorded_usage)
    assert all_docs[0] == execute_document(records[6], cost=cost, **SERVER)


async def test_find_time_filter_and_space(store: Store) -> None:
    await store.events.write(docs(*(make_record(i, at=T0 + timedelta(hours=i)) for i in range(5))))
    total, found = await store.events.find(
        space_id="default",
        connector_id="c1",
        action="execute",
        start=T0 + timedelta(hours=1),
        end=T0 + timedelta(hours=3),
    )
    assert total == 2 and [d["event"]["id"] for d in found] == ["x2:execute", "x1:execute"]
    assert await store.events.find(space_id="elsewhere", connector_id="c1") == (0, [])


async def test_invalid_documents_rejected(store: Store) -> None:
    good = execute_document(make_record(1), **SERVER)
    with pytest.raises(InvalidEventError, match=r"event\.id"):
        await store.events.write([{**good, "event": {"action": "execute"}}])
    with pytest.raises(InvalidEventError, match="@timestamp"):
        await store.events.write([{**good, "@timestamp": "yesterday"}])
    assert await store.events.count() == 0
    assert await store.events.write([]) == 0


async def test_large_batch(store: Store) -> None:
    batch = docs(*(make_record(i, at=T0 + timedelta(seconds=i)) for i in range(700)))
    assert await store.events.write(batch) == 1400
    assert (await totals(store))["executions"] == 700


# --- property: duplicated ids never inflate rollups -------------------------------------
_event = st.tuples(
    st.integers(0, 8),  # execution id: small range, so duplicates are common
    st.integers(0, 180),  # minutes after T0
    st.sampled_from(["success", "failure"]),
    st.sampled_from(["response", "stream", "estimated", "missing"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(["alice", "bob", None]),
)


@settings(max_examples=scaled(30), deadline=None)
@given(batches=st.lists(st.lists(_event, max_size=12), min_size=1, max_size=4))
def test_rollups_equal_sums_over_distinct_events(batches: list[list[tuple[Any, ...]]]) -> None:
    async def run() -> None:
        first: dict[int, ExecutionRecord] = {}
        async with await open_store("sqlite://", encryption_key=KEY) as store:
            for batch in batches:
                records = []
                for n, minutes, outcome, source, p, c, user in batch:
                    rec = make_record(
                        n,
                        at=T0 + timedelta(minutes=minutes),
                        outcome=outcome,
                        source=source,
                        tokens=(p, c),
                        user=user,
                    )
                    first.setdefault(n, rec)
                    records.append(rec)
                await store.events.write(docs(*records))
            assert await store.events.count() == 2 * len(first)
            counted = [r for r in first.values() if r.outcome == "success" and r.usage.known]
            expected = {
                "prompt_tokens": sum(r.usage.prompt_tokens for r in counted),
                "completion_tokens": sum(r.usage.completion_tokens for r in counted),
                "total_tokens": sum(r.usage.total_tokens for r in counted),
                "executions": len(first),
                "failures": sum(r.outcome == "failure" for r in first.values()),
                "estimated_tokens": sum(
                    r.usage.total_tokens for r in counted if r.usage.usage_source == "estimated"
                ),
                "reported_tokens": sum(
                    r.usage.total_tokens for r in counted if r.usage.usage_source != "estimated"
                ),
            }
            for interval in INTERVALS:
                assert await totals(store, interval) == expected

    asyncio.run(run())


async def test_naive_datetimes_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="aware"):
        await store.events.find(space_id="default", connector_id="c1", start=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        await store.events.usage(
            space_id="default", start=datetime(2024, 1, 1), end=T0, interval="day", group_by=None
        )


async def test_concurrent_writers_share_one_file(store: Store, db_url: str) -> None:
    async with await open_store(db_url, encryption_key=KEY) as second:
        batches = [docs(make_record(i), make_record(i + 1000)) for i in range(20)]
        results = await asyncio.gather(
            *(target.events.write(batch) for batch in batches for target in (store, second))
        )
        assert sum(results) == 80  # each batch written by both stores, counted once
        assert (await totals(second))["executions"] == 40


async def test_offset_timestamps_bucket_in_utc(store: Store) -> None:
    doc = execute_document(make_record(1), **SERVER)
    doc["@timestamp"] = "2024-03-01T01:30:00.000+02:00"  # 2024-02-29T23:30Z
    await store.events.write([doc])
    rows = await store.events.usage(
        space_id="default", start=T0 - timedelta(days=2), end=T0, interval="day", group_by=None
    )
    assert [r["bucket"] for r in rows] == ["2024-02-29T00:00:00.000Z"]


async def test_overlapping_batches_in_any_order_never_deadlock(store: Store, db_url: str) -> None:
    """Replicas replaying the same events in different orders (spools, retries) touch the
    same rows: every batch lands, each event and each token is counted once."""
    records = [
        make_record(i, at=T0 + timedelta(minutes=i % 3), user=f"u{i % 4}") for i in range(30)
    ]
    async with await open_store(db_url, encryption_key=KEY) as second:
        batches = [docs(*records[i : i + 12]) for i in range(0, 30, 6)]
        writes = [
            target.events.write(batch if n % 2 else batch[::-1])
            for n, batch in enumerate(batches * 2)
            for target in (store, second)
        ]
        assert sum(await asyncio.gather(*writes)) == 60
    assert (await totals(store))["executions"] == 30
    assert (await totals(store))["total_tokens"] == 30 * 15


async def test_usage_keys_sorted_by_code_point_on_every_backend(store: Store) -> None:
    names = ["bob", "Alice", "_svc", "Émile", "alice", "Bob"]
    await store.events.write(docs(*(make_record(i, user=n) for i, n in enumerate(names))))
    rows = await store.events.usage(
        space_id="default", start=T0, end=T0 + timedelta(hours=1), interval="hour", group_by="user"
    )
    assert [r["key"] for r in rows] == sorted(names)


async def test_event_times_keep_microseconds_and_utc(store: Store) -> None:
    doc = execute_document(make_record(1), **SERVER)
    doc["@timestamp"] = "2024-03-01T10:00:00.123456+00:00"
    await store.events.write([doc])
    found = await store.events.find(
        space_id="default",
        connector_id="c1",
        start=datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
        end=datetime(2024, 3, 1, 10, 0, 0, 123457, tzinfo=UTC),
    )
    assert found[0] == 1 and found[1][0]["@timestamp"] == doc["@timestamp"]


async def test_nul_in_document_values_does_not_stall_the_log(store: Store) -> None:
    """PostgreSQL text cannot hold NUL; a model name from a request body may contain one."""
    doc = execute_document(make_record(1, model="gpt\x00x", user="a\x00b"), **SERVER)
    assert await store.events.write([doc]) == 1
    total, found = await store.events.find(space_id="default", connector_id="c1")
    assert total == 1 and found[0] == doc  # the document keeps the original
    rows = await store.events.usage(
        space_id="default", start=T0, end=T0 + timedelta(hours=1), interval="hour", group_by="model"
    )
    assert [r["key"] for r in rows] == ["gpt\ufffdx"]


async def test_find_returns_durations_as_strings_also_for_older_documents(store: Store) -> None:
    """Kibana's event log holds ``event.duration`` as a string of nanoseconds; documents
    written before llmrelay did the same hold an integer and are answered alike."""
    new, old = make_record(1), make_record(2, at=T0 + timedelta(minutes=1))
    old_doc = execute_document(old, **SERVER)
    old_doc["event"]["duration"] = int(old_doc["event"]["duration"])  # the old form
    await store.events.write([execute_document(new, **SERVER), old_doc])
    _, found = await store.events.find(space_id="default", connector_id="c1", action="execute")
    assert [d["event"]["duration"] for d in found] == ["1000000", "1000000"]


def _with(doc: dict[str, Any], **ours: Any) -> dict[str, Any]:
    """``doc`` with fields of ours set (``route_id`` is written by route connectors)."""
    if doc["event"]["action"] == "execute":
        doc["llmrelay"].update(ours)
    return doc


async def test_usage_by_endpoint_and_route_with_cost(store: Store) -> None:
    embed = make_record(2, model="text-embedding-3-small", tokens=(1000, 0))
    embed.endpoint = "embeddings"
    batch = [
        *docs(make_record(1)),  # chat, gpt-4o: 10 x 2.50 + 5 x 10.00 per million = 75 µUSD
        *docs(embed),  # 1000 x 0.02 per million = 20 µUSD
        *[_with(d, route_id="r1") for d in docs(make_record(3, tokens=(1, 1)))],  # 12.5 µUSD
        *docs(make_record(4, model="my-local-model", tokens=(7, 3))),  # no price
        *docs(make_record(5, outcome="failure")),  # priced, no usage: 0
    ]
    await store.events.write(batch)

    async def grouped(group_by: GroupBy | None, **kw: Any) -> dict[Any, tuple[int, ...]]:
        rows = await store.events.usage(
            space_id="default",
            start=T0,
            end=T0 + timedelta(hours=1),
            interval="hour",
            group_by=group_by,
            **kw,
        )
        return {
            r["key"]: (
                r["total_tokens"],
                r["executions"],
                r["cost_nano_usd"],
                r["unpriced_tokens"],
                r["unpriced_executions"],
            )
            for r in rows
        }

    assert await grouped("endpoint") == {
        "chat": (15 + 2 + 10, 4, 75_000 + 12_500, 10, 1),
        "embeddings": (1000, 1, 20_000, 0, 0),
    }
    assert await grouped("route") == {
        None: (15 + 1000 + 10, 4, 75_000 + 20_000, 10, 1),
        "r1": (2, 1, 12_500, 0, 0),
    }
    assert await grouped(None, endpoint="embeddings") == {None: (1000, 1, 20_000, 0, 0)}
    assert await grouped("model", endpoint="chat") == {
        "gpt-4o": (17, 3, 87_500, 0, 0),
        "my-local-model": (10, 1, 0, 10, 1),
    }
