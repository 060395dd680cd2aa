"""Upstream faults through the real HTTP API (issue 7 §2, "Upstream faults").

Every fault is driven through ``_execute`` and through ``/v1/chat/completions``: the caller
gets a clear error, the event log gets an ``execute`` event with outcome ``failure``, the
service keeps serving, and a second round of all faults holds no more file descriptors
or upstream connections than the first (the service runs in this process, in a thread).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from llmrelay.testing import FakeUpstream
from llmrelay.transport.client import OutboundClient
from tests.fixtures.service import Service
from tests.helpers.soak import scaled
from tests.reliability.conftest import (
    MAX_RESPONSE_BYTES,
    MESSAGES,
    XSRF,
    established_to,
    execute_events,
    make_connector,
    open_fds,
    poll,
)

pytestmark = pytest.mark.network

STORM = 200  # concurrent: more would outrun the 1 s response timeout, not test the storm
# the outbound client's connection pool bound (per connector)
POOL_LIMIT: int = inspect.signature(OutboundClient).parameters["pool_limit"].default
FD_TOLERANCE = 8  # logging, the event loop's self-pipe and such may come and go
DRIP = [f" drip{i}" for i in range(5)]


@dataclass
class Call:
    """One request to the service and what the caller saw."""

    via: str  # "execute" or "gateway"
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def sse_error(self) -> str:
        """The message of the ``event: error`` that ends a broken stream."""
        assert self.status == 200, self.text
        tail = self.text.rstrip().rsplit("\n\n", 1)[-1]
        assert tail.startswith("event: error\ndata: "), self.text[-300:]
        message: str = orjson.loads(tail.split("data: ", 1)[1])["error"]["message"]
        return message

    def error_message(self) -> str:
        """The error the caller got from a non-streamed call, in either API's shape."""
        body = self.json()
        if self.via == "execute":
            assert self.status == 200 and body["status"] == "error", self.text
            message: str = body.get("service_message", "")
            return f"{body['message']} {message}"
        assert self.status >= 400, self.text
        return str(body["error"]["message"])


@dataclass
class Fault:
    name: str
    script: Callable[[FakeUpstream], None]
    stream: bool
    check: Callable[[Call], None]
    outcome: str = "failure"
    target: str = "plain"  # which connector: plain, tls (untrusted CA), https-to-plain


def _clear(text: str, *fragments: str) -> None:
    lowered = text.lower()
    assert any(f.lower() in lowered for f in fragments), text
    assert "traceback" not in lowered and "internal server error" not in lowered, text


def _reset_checks(call: Call) -> None:
    _clear(call.sse_error(), "connection", "reset", "closed", "ended", "disconnect")


def _slow_first_byte_checks(call: Call) -> None:
    if call.via == "gateway":
        assert call.status == 504, call.text
    _clear(call.error_message(), "timeout", "timed out")


def _drip_checks(call: Call) -> None:
    assert call.status == 200, call.text
    for delta in DRIP:
        assert delta.strip() in call.text
    assert "event: error" not in call.text
    assert call.text.rstrip().endswith("data: [DONE]")


def _malformed_checks(call: Call) -> None:
    # a malformed line is passed through / skipped, not fatal: the stream completes
    assert call.status == 200, call.text
    assert "event: error" not in call.text
    assert call.text.rstrip().endswith("data: [DONE]")


def _huge_checks(call: Call) -> None:
    if call.via == "gateway":
        assert call.status == 502, call.text
    _clear(call.error_message(), f"maxContentLength size of {MAX_RESPONSE_BYTES} exceeded")


def _tls_checks(call: Call) -> None:
    if call.via == "gateway":
        assert call.status == 502, call.text
    _clear(call.error_message(), "certificate", "ssl", "tls", "handshake")


FAULTS = [
    Fault(
        "reset mid-stream",
        lambda up: up.stream(["a", "b", "c", "d"], reset_after=3),
        True,
        _reset_checks,
    ),
    Fault("slow first byte", lambda up: up.slow_first_byte(5.0), False, _slow_first_byte_checks),
    Fault(
        "slow drip",
        lambda up: up.stream(DRIP, chunk_delay=0.25),  # ~1.5 s in all, 1 s timeout
        True,
        _drip_checks,
        outcome="success",
    ),
    Fault(
        "malformed SSE",
        lambda up: up.stream(["x", "y"], malformed_line=True),
        True,
        _malformed_checks,
        outcome="success",
    ),
    Fault(
        "response over maxResponseContentLength",
        lambda up: up.huge_response(MAX_RESPONSE_BYTES * 2),
        False,
        _huge_checks,
    ),
    Fault("TLS: untrusted certificate", lambda up: None, False, _tls_checks, target="tls"),
    Fault(
        "TLS: handshake with a plain server",
        lambda up: None,
        False,
        _tls_checks,
        target="https",
    ),
]


class Harness:
    def __init__(self, service: Service, upstream: FakeUpstream, urls: dict[str, str]) -> None:
        self.service = service
        self.upstream = upstream
        self.admin = service.client(service.admin)
        key = service.api_key(["admin"])
        self.gateway = service.client(key)
        self.key = key
        self.connectors: dict[str, str] = {}
        self.expected: dict[str, list[str]] = {}
        self.urls = urls

    def connector(self, name: str, target: str) -> str:
        if name not in self.connectors:
            self.connectors[name] = make_connector(self.admin, self.urls[target], name=name)
            self.expected[name] = []
        return self.connectors[name]

    def call(self, connector_id: str, via: str, stream: bool) -> Call:
        if via == "execute":
            sub = "stream" if stream else "run"
            body = json.dumps({"messages": MESSAGES, "stream": stream})
            params = {"body": body, "stream": True} if stream else {"body": body}
            response = self.admin.post(
                f"/api/actions/connector/{connector_id}/_execute",
                json={"params": {"subAction": sub, "subActionParams": params}},
                headers=XSRF,
            )
        else:
            response = self.gateway.post(
                "/v1/chat/completions",
                json={"model": connector_id, "messages": MESSAGES, "stream": stream},
            )
        return Call(via, response.status_code, response.text)

    def run_faults(self) -> None:
        for fault in FAULTS:
            connector_id = self.connector(fault.name, fault.target)
            for via in ("execute", "gateway"):
                fault.script(self.upstream)
                call = self.call(connector_id, via, fault.stream)
                try:
                    fault.check(call)
                except AssertionError as err:
                    raise AssertionError(f"{fault.name} via {via}: {err}") from None
                self.expected[fault.name].append(fault.outcome)

    def storm(self, status: int) -> None:
        """``STORM`` concurrent calls, half per API, against an upstream failing them all."""
        name = f"{status} storm"
        connector_id = self.connector(name, "plain")
        self.upstream.fail(status, f"upstream storm {status}", times=STORM * 2)

        async def one(client: httpx.AsyncClient, via: str) -> Call:
            if via == "execute":
                response = await client.post(
                    f"/api/actions/connector/{connector_id}/_execute",
                    json={
                        "params": {
                            "subAction": "run",
                            "subActionParams": {"body": json.dumps({"messages": MESSAGES})},
                        }
                    },
                    headers={**XSRF, **self.service.admin},
                )
            else:
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": connector_id, "messages": MESSAGES},
                    headers=self.key,
                )
            return Call(via, response.status_code, response.text)

        async def burst() -> list[Call]:
            limits = httpx.Limits(max_connections=STORM, max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=self.service.url, limits=limits, timeout=30
            ) as client:
                vias = ["execute", "gateway"] * (STORM // 2)
                return await asyncio.gather(*(one(client, via) for via in vias))

        calls = asyncio.run(burst())
        self.upstream.reset()
        for call in calls:
            if call.via == "gateway":
                assert call.status == status, call.text
            message = call.error_message()
            assert f"upstream storm {status}" in message or str(status) in message, message
        self.expected[name].extend(["failure"] * STORM)

    def check_events(self) -> None:
        """Each connector's ``execute`` events match the calls made, outcome by outcome."""
        for name, connector_id in self.connectors.items():
            want = sorted(self.expected[name])

            def arrived(cid: str = connector_id, n: int = len(want)) -> bool:
                return len(execute_events(self.admin, cid)) >= n

            poll(arrived)
            events = execute_events(self.admin, connector_id)
            got = sorted(e["event"]["outcome"] for e in events)
            assert got == want, f"{name}: events {got}, expected {want}"
            for event in events:
                if event["event"]["outcome"] == "failure":
                    assert event["error"]["message"], event

    def serves(self) -> None:
        connector_id = self.connector("healthy", "plain")
        for via in ("execute", "gateway"):
            call = self.call(connector_id, via, stream=False)
            assert call.status == 200, call.text
            if via == "execute":
                assert call.json()["status"] == "ok", call.text
            self.expected["healthy"].append("success")

    def close(self) -> None:
        self.admin.close()
        self.gateway.close()


def test_upstream_faults_fail_cleanly_and_leak_nothing(
    fault_service: Service, upstream: FakeUpstream, tls_upstream: FakeUpstream
) -> None:
    urls = {
        "plain": upstream.url(),
        "tls": tls_upstream.url(),  # the service does not trust the test CA
        "https": f"https://localhost:{upstream.port}/v1/chat/completions",
    }
    harness = Harness(fault_service, upstream, urls)
    try:
        rounds: list[tuple[int, int]] = []
        # the first round warms pools and caches up; later ones (more in make soak) may not grow
        for _ in range(1 + scaled(1)):
            harness.run_faults()
            harness.storm(429)
            harness.storm(500)
            harness.serves()
            harness.check_events()
            rounds.append((open_fds(), established_to(upstream.port)))
        (fds_before, conns_before), (fds_after, conns_after) = rounds[0], rounds[-1]
        assert fds_after <= fds_before + FD_TOLERANCE, rounds
        assert conns_after <= max(conns_before, 1) + FD_TOLERANCE, rounds
        # idle keep-alive connections stay within the pools (one per storm connector, at
        # most POOL_LIMIT each), far fewer than the calls made
        assert conns_after <= min(2 * POOL_LIMIT, 2 * STORM), rounds
    finally:
        harness.close()
