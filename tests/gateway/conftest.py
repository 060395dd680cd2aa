"""Gateway test kit: connectors and API keys on the shared service, event polling, and
``openai`` SDK clients pointed at ``/v1`` (no retries, so a 429 surfaces at once)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.fixtures.service import Service

XSRF = {"kbn-xsrf": "true"}


def create_connector(
    service: Service, space: str, url: str, provider: str = "OpenAI", **config: Any
) -> str:
    body = {
        "name": f"{provider} via gateway",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": provider, "apiUrl": url, **config},
        "secrets": {"apiKey": "sk-upstream-secret"},
    }
    with service.client(service.admin, base=f"/s/{space}") as client:
        response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def key_for(
    service: Service, space: str, owner: str | None = None, role: str = "connectors_read"
) -> str:
    """An encoded llmrelay API key (what ``Authorization: ApiKey`` / ``Bearer`` carry);
    with ``owner``, that user is created first and the key acts as them."""
    if owner is not None:
        service.user(owner, [role], [space])
    header = service.api_key([role], [space], owner=owner)["Authorization"]
    return header.removeprefix("ApiKey ")


def base_url(service: Service, space: str) -> str:
    return f"{service.url}/v1" if space == "default" else f"{service.url}/s/{space}/v1"


def sdk(service: Service, space: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url(service, space), api_key=key, max_retries=0, timeout=30)


def async_sdk(service: Service, space: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url(service, space), api_key=key, max_retries=0, timeout=30
    )


def events(service: Service, space: str, connector_id: str, count: int) -> list[dict[str, Any]]:
    """The connector's events, newest first, once ``count`` are written (off the request path)."""
    deadline = time.monotonic() + 10
    with service.client(service.admin, base=f"/s/{space}") as client:
        while True:
            page = client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=100").json()
            if page["total"] >= count or time.monotonic() > deadline:
                assert page["total"] == count, page
                data: list[dict[str, Any]] = page["data"]
                return data
            time.sleep(0.05)


@pytest.fixture
def raw_client(service: Service) -> Callable[[str], httpx.Client]:
    def make(space: str) -> httpx.Client:
        return httpx.Client(base_url=base_url(service, space), timeout=30)

    return make
