"""PostgreSQL stopped for a minute while traffic flows: requests keep succeeding (cached
connectors and credentials), events spool to disk, and once PostgreSQL is back every event
is in the database exactly once (the rollups agree).

The outage lasts ``LLMRELAY_TEST_OUTAGE_SECONDS`` (60 by default, as the issue asks). The
test runs its own cluster, since it stops it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.postgres import PostgresCluster, PostgresUnavailableError
from tests.scale.conftest import ADMIN, RUN, RelayFactory, RelayProcess, connector_body
from tests.scale.test_concurrency import _database_totals

OUTAGE_SECONDS = float(os.environ.get("LLMRELAY_TEST_OUTAGE_SECONDS", "60"))
CLIENTS_PER_PROCESS = 2
PAUSE = 0.05  # between two requests of one client: ~40 requests/s in all


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


class Traffic:
    """Executions against every relay from a thread, until stopped; keeps every status."""

    def __init__(self, relays: list[RelayProcess], connector_id: str) -> None:
        self.relays, self.connector_id = relays, connector_id
        self.statuses: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(
                *(
                    self._client(client, relay)
                    for relay in self.relays
                    for _ in range(CLIENTS_PER_PROCESS)
                )
            )

    async def _client(self, client: httpx.AsyncClient, relay: RelayProcess) -> None:
        url = f"{relay.url}/api/actions/connector/{self.connector_id}/_execute"
        while not self._stop.is_set():
            try:
                reply = await client.post(url, json=RUN, headers=ADMIN)
                status = reply.json().get("status", "") if reply.status_code == 200 else reply.text
                self.statuses.append((reply.status_code, str(status)))
            except httpx.HTTPError as err:
                self.statuses.append((0, repr(err)))
            await asyncio.sleep(PAUSE)


@pytest.mark.timeout(OUTAGE_SECONDS + 180)
def test_postgres_outage_spools_and_replays_exactly_once(
    relay_process: RelayFactory, own_cluster: PostgresCluster, upstream: FakeUpstream
) -> None:
    url = own_cluster.url(own_cluster.acquire())
    relays = [relay_process(url), relay_process(url)]
    created = httpx.post(
        relays[0].url + "/api/actions/connector",
        json=connector_body(upstream, "k"),
        headers=ADMIN,
        timeout=30,
    )
    connector_id = created.json()["id"]
    for relay in relays:  # one slow password check per process, not one per client
        warm = f"{relay.url}/api/actions/connector/{connector_id}/_execute"
        assert httpx.post(warm, json=RUN, headers=ADMIN, timeout=30).status_code == 200

    with Traffic(relays, connector_id) as traffic:
        time.sleep(2)  # caches and credentials warm while the database is up
        own_cluster.stop_server()
        down_at = len(traffic.statuses)
        time.sleep(OUTAGE_SECONDS)
        during = len(traffic.statuses) - down_at
        own_cluster.start_server()
        time.sleep(2)
    executions = len(traffic.statuses) + len(relays)
    failures = [s for s in traffic.statuses if s != (200, "ok")]
    assert not failures, failures[:5]
    assert during > OUTAGE_SECONDS * 10  # traffic really flowed during the outage

    logs = "".join(relay.log.read_text(errors="replace") for relay in relays)
    assert "spooling events" in logs

    deadline = time.monotonic() + 90
    while True:  # each writer retries every second and replays its spool in batches
        total, distinct, tokens, rollups = asyncio.run(_database_totals(url))
        if total >= 2 * executions or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert total == distinct == 2 * executions
    assert rollups == {name: (executions, tokens) for name in ("minute", "hour", "day")}
