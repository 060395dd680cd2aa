"""Outbound safety seen from the executor and the API (issue 7 §2).

A refused target surfaces as any connection-level failure does, ``Status code: undefined.
Message: Unexpected API Error: ERR_LLMRELAY_FORBIDDEN_ADDRESS - ...``, and a connector
whose URL is literally a metadata address or name is refused when it is saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmrelay import ActionsSettings, Executor
from llmrelay.testing import FakeUpstream
from tests.execution.conftest import ConnectorFactory
from tests.fixtures.service import Service
from tests.transport.test_outbound_safety import ConnectGuard, FakeDns

HELLO = [{"role": "user", "content": "Hello world"}]
BODY = json.dumps({"messages": HELLO})
XSRF = {"kbn-xsrf": "true"}
FORBIDDEN = (
    "Status code: undefined. Message: Unexpected API Error: ERR_LLMRELAY_FORBIDDEN_ADDRESS - "
)


@pytest.fixture(autouse=True)
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectGuard]:
    connect_guard = ConnectGuard(monkeypatch)
    yield connect_guard
    assert not connect_guard.foreign


@pytest.mark.parametrize(
    ("sub_action", "params"),
    [
        ("run", {"body": BODY}),
        ("invokeAI", {"messages": HELLO}),
        ("invokeStream", {"messages": HELLO}),
    ],
)
async def test_a_name_resolving_to_the_metadata_address_fails_the_execution(
    sub_action: str,
    params: dict[str, Any],
    make_connector: ConnectorFactory,
    monkeypatch: pytest.MonkeyPatch,
    guard: ConnectGuard,
) -> None:
    dns = FakeDns(monkeypatch)
    dns.table["rebind.test"] = ["169.254.169.254"]
    conn = make_connector("OpenAI", "http://rebind.test/v1/chat/completions")
    async with Executor(ActionsSettings()) as ex:
        result = await ex.execute(conn, sub_action, params)
    assert not result.ok
    assert result.service_message == (
        FORBIDDEN + 'error configuring connector action: target "rebind.test" resolves to a '
        "link-local or cloud metadata address (169.254.169.254), which llmrelay never calls"
    )
    assert guard.attempts == []


async def test_a_redirect_to_the_metadata_address_fails_the_execution(
    upstream: FakeUpstream, make_connector: ConnectorFactory, guard: ConnectGuard
) -> None:
    upstream.redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    conn = make_connector("OpenAI", upstream.url())
    async with Executor(ActionsSettings()) as ex:
        result = await ex.execute(conn, "run", {"body": BODY})
    assert result.service_message == (
        FORBIDDEN + 'error configuring connector action: target "169.254.169.254" is a '
        "link-local or cloud metadata address, which llmrelay never calls"
    )
    assert len(upstream.requests) == 1


async def test_deny_private_networks_fails_the_loopback_upstream_only_when_set(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    async with Executor(ActionsSettings()) as ex:
        assert (await ex.execute(conn, "run", {"body": BODY})).ok
    async with Executor(ActionsSettings(denyPrivateNetworks=True)) as ex:
        denied = await ex.execute(conn, "run", {"body": BODY})
    assert (denied.service_message or "").startswith(
        FORBIDDEN + 'error configuring connector action: target "localhost" resolves to a '
        "private or loopback address"
    )
    assert len(upstream.requests) == 1


# --- over the API ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (
            "http://169.254.169.254/v1/chat/completions",
            'target "169.254.169.254" is a link-local or cloud metadata address',
        ),
        ("http://[fe80::1]/v1/chat/completions", 'target "fe80::1" is a link-local'),
        (
            "http://metadata.google.internal/v1/chat/completions",
            'target "metadata.google.internal" is a cloud metadata host name',
        ),
    ],
)
def test_creating_a_connector_with_a_metadata_url_is_400(
    service: Service, url: str, fragment: str
) -> None:
    body = {
        "name": "imds",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": url},
        "secrets": {"apiKey": "sk-test"},
    }
    with service.client(service.admin) as client:
        response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Bad Request"
    assert fragment in response.json()["message"]
    assert response.json()["message"].startswith(
        "error validating connector type config: Error configuring OpenAI action: Error: "
        "error validating url: "
    )


def test_execute_redirected_to_the_metadata_address_is_an_error_envelope(
    service: Service, upstream: FakeUpstream
) -> None:
    body = {
        "name": "redirected",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": upstream.url()},
        "secrets": {"apiKey": "sk-test"},
    }
    run = {"params": {"subAction": "run", "subActionParams": {"body": BODY}}}
    with service.client(service.admin) as client:
        created = client.post("/s/imds/api/actions/connector", json=body, headers=XSRF)
        assert created.status_code == 200, created.text
        upstream.redirect("http://169.254.169.254/latest/meta-data")
        response = client.post(
            f"/s/imds/api/actions/connector/{created.json()['id']}/_execute",
            json=run,
            headers=XSRF,
        )
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["status"] == "error"
    assert envelope["service_message"].startswith(FORBIDDEN)
    message = envelope["service_message"]
    assert '"169.254.169.254" is a link-local or cloud metadata address' in message
