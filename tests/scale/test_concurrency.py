"""Two processes x 200 concurrent executions on one PostgreSQL: every event is stored
exactly once, and the rollups (per minute, hour and day) add up to the events."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx

from llmrelay.testing import FakeUpstream
from tests.scale.conftest import RUN, RelayFactory, connector_body

PER_PROCESS = 200


async def _database_totals(url: str) -> tuple[int, int, int, dict[str, tuple[int, int]]]:
    conn = await asyncpg.connect(url)
    try:
        total, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        )
        tokens = await conn.fetchval(
            "SELECT coalesce(sum((document::jsonb #>> "
            "'{kibana,action,execution,gen_ai,usage,total_tokens}')::bigint), 0) "
            "FROM events WHERE action = 'execute'"
        )
        rollups = {
            row["interval"]: (int(row["executions"]), int(row["tokens"]))
            for row in await conn.fetch(
                "SELECT interval, sum(executions) AS executions, sum(total_tokens) AS tokens "
                "FROM usage_rollups GROUP BY interval"
            )
        }
    finally:
        await conn.close()
    return int(total), int(distinct), int(tokens), rollups


# postgres_url before relay_process: the database is emptied after the processes stopped
# (emptied under a running relay, its writes deadlock with DROP SCHEMA)
def test_two_processes_times_200_concurrent_executions(
    postgres_url: str, relay_process: RelayFactory, upstream: FakeUpstream
) -> None:
    relays = [relay_process(postgres_url), relay_process(postgres_url)]
    headers = relays[0].api_key()
    created = httpx.post(
        relays[0].url + "/api/actions/connector",
        json=connector_body(upstream, "k"),
        headers=headers,
        timeout=30,
    )
    connector_id = created.json()["id"]

    async def traffic() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=2 * PER_PROCESS)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{relay.url}/api/actions/connector/{connector_id}/_execute",
                        json=RUN,
                        headers=headers,
                    )
                    for relay in relays
                    for _ in range(PER_PROCESS)
                )
            )

    replies = asyncio.run(traffic())
    assert [r.status_code for r in replies] == [200] * (2 * PER_PROCESS)
    assert all(r.json()["status"] == "ok" for r in replies)

    executions = 2 * PER_PROCESS
    deadline = time.monotonic() + 30
    while True:  # the event writers batch in the background
        total, distinct, tokens, rollups = asyncio.run(_database_totals(postgres_url))
        if total >= 2 * executions or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert total == distinct == 2 * executions  # execute-start + execute, each exactly once
    assert tokens > 0
    assert rollups == {name: (executions, tokens) for name in ("minute", "hour", "day")}
