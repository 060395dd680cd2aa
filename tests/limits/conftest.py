"""Limits test kit: limits through the API, API keys with their ids, connectors."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.fixtures.service import Service
from tests.scale.conftest import relay_process  # noqa: F401  (real serve processes)

XSRF = {"kbn-xsrf": "true"}
HELLO = [{"role": "user", "content": "Hello limits"}]


def api(service: Service, space: str, headers: dict[str, str] | None = None) -> httpx.Client:
    base = "" if space == "default" else f"/s/{space}"
    return service.client({**(headers or service.admin), **XSRF}, base=base)


def create_limit(service: Service, space: str, body: dict[str, Any]) -> dict[str, Any]:
    with api(service, space) as client:
        response = client.post("/api/llmrelay/limits", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def limit_of(service: Service, space: str, limit_id: str) -> dict[str, Any]:
    with api(service, space) as client:
        response = client.get(f"/api/llmrelay/limits/{limit_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def key_with_id(
    service: Service, space: str, role: str = "connectors_read", owner: str | None = None
) -> tuple[str, str]:
    """A new API key: (its id as ``llmrelay api-keys list`` shows it, its encoded value)."""
    header = service.api_key([role], [space], owner=owner)["Authorization"]
    encoded = header.removeprefix("ApiKey ")
    key_id = base64.b64decode(encoded).decode().split(":", 1)[0]
    return key_id, encoded


def connector(service: Service, space: str, url: str, model: str = "gpt-4o") -> str:
    body = {
        "name": "limited",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": url, "defaultModel": model},
        "secrets": {"apiKey": "sk-upstream-secret"},
    }
    with api(service, space) as client:
        response = client.post("/api/actions/connector", json=body)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def run_body(text: str = "Hello limits") -> dict[str, Any]:
    import json

    messages = [{"role": "user", "content": text}]
    return {
        "params": {
            "subAction": "run",
            "subActionParams": {"body": json.dumps({"messages": messages})},
        }
    }


def away_from_minute_end(margin: float = 12.0) -> None:
    """Wait for the next minute when fewer than ``margin`` seconds are left of this one, so
    a test's per-minute counts all fall into one calendar window (not a timing check)."""
    import time
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    left = 60 - now.second - now.microsecond / 1e6
    if left < margin:
        time.sleep(left + 0.05)


def execute_events(service: Service, space: str, connector_id: str, count: int) -> list[Any]:
    """The connector's ``execute`` documents, newest first, once ``count`` are written."""
    import time

    deadline = time.monotonic() + 10
    with api(service, space) as client:
        while True:
            page = client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=1000")
            docs = [d for d in page.json()["data"] if d["event"]["action"] == "execute"]
            if len(docs) >= count or time.monotonic() > deadline:
                assert len(docs) == count, docs
                return docs
            time.sleep(0.05)
