"""Scale-out: processes that share only the database see each other's connector changes.

Two ``llmrelay serve`` processes on one PostgreSQL: created on one, executable on the
other; a key updated on one is used by the other; deleted on one, the other answers 404.
On SQLite, ``--workers 2`` relies on the revision check alone (bounded by
``llmrelay.connectorCache.revalidateAfter``).
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from llmrelay.cli.serve import listening_socket
from llmrelay.testing import FakeUpstream
from tests.scale.conftest import ADMIN, RUN, RelayFactory, connector_body

CONNECTOR = "/api/actions/connector"


def _execute(client: httpx.Client, base: str, connector_id: str) -> httpx.Response:
    return client.post(f"{base}{CONNECTOR}/{connector_id}/_execute", json=RUN, headers=ADMIN)


def _keys_seen(upstream: FakeUpstream, since: int) -> list[str]:
    return [r.headers["authorization"] for r in upstream.requests[since:]]


# postgres_url before relay_process: the database is emptied after the processes stopped
# (emptied under a running relay, its writes deadlock with DROP SCHEMA)
def test_two_processes_on_one_postgres_share_connectors(
    postgres_url: str, relay_process: RelayFactory, upstream: FakeUpstream
) -> None:
    # caches are never re-checked by age here: only LISTEN/NOTIFY can make this pass
    never = {"LLMRELAY__llmrelay__connectorCache__revalidateAfter": "1h"}
    a = relay_process(postgres_url, **never)
    b = relay_process(postgres_url, **never)
    with httpx.Client(timeout=30) as client:
        created = client.post(
            a.url + CONNECTOR, json=connector_body(upstream, "key-1"), headers=ADMIN
        )
        assert created.status_code == 200, created.text
        connector_id = created.json()["id"]

        ran = _execute(client, b.url, connector_id)
        assert ran.status_code == 200 and ran.json()["status"] == "ok", ran.text
        assert _keys_seen(upstream, 0) == ["Bearer key-1"]

        body = connector_body(upstream, "key-2")
        del body["connector_type_id"]
        updated = client.put(f"{a.url}{CONNECTOR}/{connector_id}", json=body, headers=ADMIN)
        assert updated.status_code == 200, updated.text
        seen = len(upstream.requests)
        deadline = time.monotonic() + 5  # the notification crosses processes asynchronously
        while True:
            assert _execute(client, b.url, connector_id).status_code == 200
            keys = _keys_seen(upstream, seen)
            if keys[-1] == "Bearer key-2" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert keys[-1] == "Bearer key-2", keys
        seen = len(upstream.requests)
        for _ in range(5):  # and never the old key again
            assert _execute(client, b.url, connector_id).status_code == 200
        assert set(_keys_seen(upstream, seen)) == {"Bearer key-2"}

        deleted = client.delete(f"{a.url}{CONNECTOR}/{connector_id}", headers=ADMIN)
        assert deleted.status_code in (200, 204), deleted.text
        deadline = time.monotonic() + 5
        while (gone := _execute(client, b.url, connector_id)).status_code != 404:
            assert time.monotonic() < deadline, gone.text
            time.sleep(0.02)
        assert gone.status_code == 404


def test_workers_on_sqlite_see_updates_within_the_revalidation_bound(
    relay_process: RelayFactory, tmp_path: object, upstream: FakeUpstream
) -> None:
    relay = relay_process(
        "", workers=2, LLMRELAY__llmrelay__connectorCache__revalidateAfter="300ms"
    )
    headers = relay.api_key()
    with httpx.Client(timeout=30) as client:
        created = client.post(
            relay.url + CONNECTOR, json=connector_body(upstream, "key-1"), headers=headers
        )
        connector_id = created.json()["id"]

        async def burst() -> None:  # enough concurrent requests to reach both workers
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits()) as aclient:
                replies = await asyncio.gather(
                    *(
                        aclient.post(
                            f"{relay.url}{CONNECTOR}/{connector_id}/_execute",
                            json=RUN,
                            headers={**headers, "Connection": "close"},
                        )
                        for _ in range(40)
                    )
                )
            assert all(r.status_code == 200 for r in replies)

        asyncio.run(burst())
        body = connector_body(upstream, "key-2")
        del body["connector_type_id"]
        client.put(f"{relay.url}{CONNECTOR}/{connector_id}", json=body, headers=headers)
        updated_at = time.monotonic()
        time.sleep(0.4)  # the bound: revalidateAfter (plus one query)
        seen = len(upstream.requests)
        asyncio.run(burst())
        assert time.monotonic() - updated_at < 30
        assert set(_keys_seen(upstream, seen)) == {"Bearer key-2"}


def test_the_listening_socket_gives_accepted_connections_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY only when the socket says IPPROTO_TCP (uvicorn's says 0)."""
    sock = listening_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP

    async def accepted_nodelay() -> int:
        flags: list[int] = []
        accepted = asyncio.Event()

        def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("socket")
            flags.append(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            accepted.set()
            writer.close()

        server = await asyncio.start_server(connected, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            await asyncio.wait_for(accepted.wait(), 10)
            writer.close()
            await writer.wait_closed()
        return flags[0]

    assert asyncio.run(accepted_nodelay()) != 0
