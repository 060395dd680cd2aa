"""A service tuned for fault injection (short timeouts, a small response limit), shared by
the reliability modules, and helpers to count what the process holds open."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.service import Service, make_settings, start_service

XSRF = {"kbn-xsrf": "true"}
RESPONSE_TIMEOUT_MS = 1000
MAX_RESPONSE_BYTES = 64 * 1024
MESSAGES = [{"role": "user", "content": "hello reliability"}]


@pytest.fixture(scope="package")
def fault_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """SQLite service: 1 s response timeout (streams: 1 s without a byte), 64 KiB response
    limit, loopback-only allow-list."""
    settings = make_settings(
        tmp_path_factory.mktemp("reliability-home"),
        **{
            "xpack.actions.responseTimeout": f"{RESPONSE_TIMEOUT_MS}ms",
            "llmrelay.defaultTimeout": f"{RESPONSE_TIMEOUT_MS}ms",
            "xpack.actions.maxResponseContentLength": MAX_RESPONSE_BYTES,
            # fuzzed connectors must never call anything but loopback
            "xpack.actions.allowedHosts": ["localhost", "127.0.0.1"],
        },
    )
    svc = start_service(settings)
    try:
        yield svc
    finally:
        svc.thread.stop()


def make_connector(client: httpx.Client, url: str, name: str = "reliability") -> str:
    body = {
        "name": name,
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "m"},
        "secrets": {"apiKey": "sk-reliability-secret-5d1e"},
    }
    response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def execute_events(client: httpx.Client, connector_id: str) -> list[dict[str, Any]]:
    """The connector's ``execute`` documents, newest first."""
    page = client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=10000")
    assert page.status_code == 200, page.text
    return [d for d in page.json()["data"] if d["event"]["action"] == "execute"]


def poll(check: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """``check()`` until it holds or ``timeout`` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def established_to(port: int) -> int:
    """Established TCP connections from this host to ``port`` (client side), IPv4 and v6."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count
