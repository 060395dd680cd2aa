"""Limits across processes and restarts: ``llmrelay serve --workers 2`` with 8 concurrent
clients admits at most the limit (+ 1 per process, the issue's bound; the counters make it
0), counts survive a restart, and a store outage fails open or closed as configured."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.postgres import PostgresCluster, PostgresUnavailableError
from tests.fixtures.service import make_settings, start_service
from tests.limits.conftest import (
    api,
    away_from_minute_end,
    connector,
    create_limit,
    key_with_id,
    limit_of,
    run_body,
)
from tests.scale.conftest import RelayFactory, connector_body

LIMIT = 10
CLIENTS = 8
REVALIDATE = "100ms"


async def _hammer(url: str, headers: dict[str, str], connector_id: str) -> Counter[int]:
    """8 clients, 6 executions each, all at once."""
    statuses: Counter[int] = Counter()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            for _ in range(6):
                answer = await http.post(
                    f"/api/actions/connector/{connector_id}/_execute", json=run_body()
                )
                statuses[answer.status_code] += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return statuses


def test_two_workers_share_one_limit(relay_process: RelayFactory, upstream: FakeUpstream) -> None:
    relay = relay_process(
        "", workers=2, LLMRELAY__llmrelay__connectorCache__revalidateAfter=REVALIDATE
    )
    headers = relay.api_key()
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as client:
        created = client.post("/api/actions/connector", json=connector_body(upstream, "k"))
        assert created.status_code == 200, created.text
        connector_id = created.json()["id"]
        body = {"name": "ten", "scope": {"connector": connector_id}, "requests_per_minute": LIMIT}
        limit = client.post("/api/llmrelay/limits", json=body)
        assert limit.status_code == 200, limit.text
    time.sleep(0.3)  # past revalidateAfter: both workers now know the limit
    away_from_minute_end(margin=20)
    statuses = asyncio.run(_hammer(relay.url, headers, connector_id))
    assert set(statuses) <= {200, 429}, statuses
    assert LIMIT <= statuses[200] <= LIMIT + 2, statuses
    assert statuses[429] == CLIENTS * 6 - statuses[200]
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as client:
        use = client.get(f"/api/llmrelay/limits/{limit.json()['id']}").json()["current"]
    assert use["requests_this_minute"] == statuses[200]


def test_counts_survive_a_restart(tmp_path: Path, upstream: FakeUpstream) -> None:
    settings = make_settings(tmp_path / "home")
    first = start_service(settings)
    try:
        connector_id = connector(first, "default", upstream.url())
        limit = create_limit(
            first,
            "default",
            {"name": "day", "scope": {"connector": connector_id}, "tokens_per_day": 3},
        )
        with api(first, "default") as client:
            ran = client.post(f"/api/actions/connector/{connector_id}/_execute", json=run_body())
        assert ran.status_code == 200
    finally:
        first.thread.stop()
    second = start_service(settings)
    try:
        tokens = limit_of(second, "default", limit["id"])["current"]["tokens_today"]
        assert tokens == ran.json()["data"]["usage"]["total_tokens"] > 3
        with api(second, "default") as client:
            refused = client.post(
                f"/api/actions/connector/{connector_id}/_execute", json=run_body()
            )
        assert refused.status_code == 429
    finally:
        second.thread.stop()


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
    except PostgresUnavailableError as err:
        pytest.fail(f"PostgreSQL test cluster unavailable: {err}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_store_outage(
    mode: str, own_cluster: PostgresCluster, tmp_path: Path, upstream: FakeUpstream
) -> None:
    database = own_cluster.acquire()
    settings = make_settings(
        tmp_path / "home",
        database_url=own_cluster.url(database),
        **{"llmrelay.limits.onStoreOutage": mode},
    )
    svc = start_service(settings)
    try:
        connector_id = connector(svc, "default", upstream.url())
        key_id, key = key_with_id(svc, "default")
        create_limit(
            svc, "default", {"name": "key", "scope": {"api_key": key_id}, "requests_per_minute": 10}
        )
        away_from_minute_end()
        headers = {"Authorization": f"ApiKey {key}"}
        with api(svc, "default", headers) as client:
            url = f"/api/actions/connector/{connector_id}/_execute"
            assert client.post(url, json=run_body()).status_code == 200  # caches warm
            own_cluster.stop_server()
            try:  # the share this process holds is spent first, then the policy applies
                during = [client.post(url, json=run_body()) for _ in range(3)]
            finally:
                own_cluster.start_server()
    finally:
        svc.thread.stop()
    statuses = [answer.status_code for answer in during]
    if mode == "open":
        assert statuses == [200, 200, 200], [a.text for a in during]
    else:
        assert statuses[-1] == 503 and 200 not in statuses[statuses.index(503) :], statuses
        refused = during[-1]
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["error"] == "Service Unavailable"
