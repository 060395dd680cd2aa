"""Route test kit: one SQLite service for the module, a second fake upstream (so two
targets fail or answer independently), a loopback port nobody listens on, and helpers to
create connectors and routes and read their events."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmrelay.service import ConnectorView, Relay
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service, make_settings, start_service

XSRF = {"kbn-xsrf": "true"}
ROUTE = ".llmrelay-route"
RUN_BODY = '{"messages":[{"role":"user","content":"Hello route"}]}'


@pytest.fixture(scope="module")
def route_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(make_settings(tmp_path_factory.mktemp("home")))
    try:
        yield svc
    finally:
        svc.thread.stop()


@pytest.fixture(scope="module")
def second_upstream_server() -> Iterator[FakeUpstream]:
    with FakeUpstream(model="second-model") as server:
        yield server


@pytest.fixture
def upstream_b(second_upstream_server: FakeUpstream) -> FakeUpstream:
    second_upstream_server.reset()
    return second_upstream_server


@pytest.fixture
def client(route_service: Service) -> Iterator[httpx.Client]:
    with route_service.client(route_service.admin) as c:
        yield c


@pytest.fixture(scope="module")
def refused_url() -> str:
    """A loopback URL whose port was just released: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/chat/completions"


def gen_ai(client: httpx.Client, url: str, name: str = "target") -> str:
    body = {
        "name": name,
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "target-model"},
        "secrets": {"apiKey": "sk-target"},
    }
    response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def route_config(
    targets: list[str] | list[tuple[str, int]],
    fallbacks: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    listed = [t if isinstance(t, tuple) else (t, 1) for t in targets]
    return {
        "targets": [{"connectorId": cid, "weight": weight} for cid, weight in listed],
        "fallbacks": fallbacks or [],
        **extra,
    }


def create_route(client: httpx.Client, config: dict[str, Any], name: str = "route") -> str:
    body = {"name": name, "connector_type_id": ROUTE, "config": config}
    response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    route_id: str = response.json()["id"]
    return route_id


def run(client: httpx.Client, connector_id: str) -> dict[str, Any]:
    response = client.post(
        f"/api/actions/connector/{connector_id}/_execute",
        json={"params": {"subAction": "run", "subActionParams": {"body": RUN_BODY}}},
        headers=XSRF,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def events(client: httpx.Client, connector_id: str, count: int) -> list[dict[str, Any]]:
    """The connector's events (newest first) once ``count`` are written."""
    deadline = time.monotonic() + 10
    while True:
        page = client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=1000").json()
        if page["total"] >= count or time.monotonic() > deadline:
            assert page["total"] == count, page
            data: list[dict[str, Any]] = page["data"]
            return data
        time.sleep(0.05)


def executes(client: httpx.Client, connector_id: str, count: int) -> list[dict[str, Any]]:
    """The ``execute`` events among ``count`` event pairs."""
    found = events(client, connector_id, 2 * count)
    return [doc for doc in found if doc["event"]["action"] == "execute"]


async def route_in_process(
    relay: Relay, upstream: FakeUpstream
) -> tuple[ConnectorView, ConnectorView]:
    """A ``.gen-ai`` connector on ``upstream`` and a route whose one target it is, made
    through ``relay`` in the default space."""
    target = await relay.connectors.create(
        "default",
        {
            "name": "target",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
            "secrets": {"apiKey": "k"},
        },
    )
    route = await relay.connectors.create(
        "default",
        {
            "name": "route",
            "connector_type_id": ROUTE,
            "config": {"targets": [{"connectorId": target.id}]},
        },
    )
    return target, route
