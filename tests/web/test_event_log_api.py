"""Executions leave events with token usage (spec §4; checklist 56-72 via HTTP, 87),
streams over HTTP, roles and spaces, and secrets that never reach the database in clear."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service, make_settings, start_service

XSRF = {"kbn-xsrf": "true"}
SECRET = "sk-event-log-secret-456"
API_TEST_BODY = '{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'


def make_connector(client: httpx.Client, url: str, provider: str = "OpenAI", **config: Any) -> str:
    body = {
        "name": f"{provider} events",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": provider, "apiUrl": url, **config},
        "secrets": {"apiKey": SECRET},
    }
    response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def execute(
    client: httpx.Client, connector_id: str, sub_action: str, params: Any
) -> httpx.Response:
    return client.post(
        f"/api/actions/connector/{connector_id}/_execute",
        json={"params": {"subAction": sub_action, "subActionParams": params}},
        headers=XSRF,
    )


def wait_events(client: httpx.Client, connector_id: str, count: int) -> list[dict[str, Any]]:
    """Events are written off the request path: poll until ``count`` are visible."""
    deadline = time.monotonic() + 10
    while True:
        page = client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=100").json()
        if page["total"] >= count or time.monotonic() > deadline:
            assert page["total"] == count, page
            data: list[dict[str, Any]] = page["data"]
            return data
        time.sleep(0.05)


def test_59_60_62_64_65_events_of_a_test_execution(
    service: Service, upstream: FakeUpstream
) -> None:
    with service.client(service.admin, base="/s/events") as client:
        connector_id = make_connector(client, upstream.url("/api/simulators/openai"))
        result = execute(client, connector_id, "test", {"body": API_TEST_BODY})
        assert result.json()["status"] == "ok"
        events = wait_events(client, connector_id, 2)
    assert upstream.last_request.body == API_TEST_BODY.encode()
    end, start = events  # newest first
    assert start["event"]["action"] == "execute-start"
    assert end["event"]["action"] == "execute"
    assert end["event"]["provider"] == "actions" and end["event"]["outcome"] == "success"
    duration = end["event"]["duration"]  # Kibana's event log: a string of nanoseconds
    assert isinstance(duration, str) and duration.isdigit() and int(duration) > 0
    action = end["kibana"]["action"]
    assert action["id"] == connector_id and action["type_id"] == ".gen-ai"
    assert action["name"] == "OpenAI events"
    assert action["execution"]["uuid"] == start["kibana"]["action"]["execution"]["uuid"]
    assert action["execution"]["source"] == "http_request"
    assert action["execution"]["usage"]["request_body_bytes"] == 78
    assert action["execution"]["gen_ai"]["usage"] == FakeUpstream.usage_for(
        [{"role": "user", "content": "Hello world"}],
        FakeUpstream.reply_text([{"role": "user", "content": "Hello world"}]),
    )
    assert end["user"]["name"] == "admin"
    assert end["kibana"]["space_ids"] == ["events"]
    saved = end["kibana"]["saved_objects"][0]
    assert saved["rel"] == "primary" and saved["type"] == "action" and saved["id"] == connector_id
    assert saved["namespace"] == "events"
    assert end["llmrelay"]["usage_source"] == "response"


def test_61_72_failed_execution_event(service: Service, upstream: FakeUpstream) -> None:
    with service.client(service.admin, base="/s/failures") as client:
        connector_id = make_connector(client, upstream.url())
        upstream.fail(422, "The model `bad model` does not exist")
        execute(client, connector_id, "run", {"body": API_TEST_BODY})
        end = wait_events(client, connector_id, 2)[0]
    assert end["event"]["outcome"] == "failure"
    assert end["error"]["message"] == (
        "an error occurred while running the action: Status code: 422. Message: API Error: "
        "Unprocessable Entity - The model `bad model` does not exist; retry: true"
    )
    assert "gen_ai" not in end["kibana"]["action"]["execution"]


def test_find_narrows_to_an_action_and_an_outcome(service: Service, upstream: FakeUpstream) -> None:
    """llmrelay's ``action`` and ``outcome`` parameters (the connector page's execution list)."""
    with service.client(service.admin, base="/s/outcomes") as client:
        connector_id = make_connector(client, upstream.url())
        assert execute(client, connector_id, "run", {"body": API_TEST_BODY}).status_code == 200
        upstream.fail(500, "boom")
        execute(client, connector_id, "run", {"body": API_TEST_BODY})
        wait_events(client, connector_id, 4)
        base = f"/api/event_log/connector/{connector_id}/_find"
        ends = client.get(f"{base}?action=execute").json()
        failed = client.get(f"{base}?action=execute&outcome=failure").json()
        ok = client.get(f"{base}?outcome=success").json()
        bad = client.get(f"{base}?outcome=maybe")
    assert ends["total"] == 2
    assert {doc["event"]["action"] for doc in ends["data"]} == {"execute"}
    assert failed["total"] == 1 and failed["data"][0]["event"]["outcome"] == "failure"
    assert ok["total"] == 1 and ok["data"][0]["event"]["outcome"] == "success"
    assert bad.status_code == 400
    assert bad.json()["message"] == "[outcome]: expected one of success, failure but got [maybe]"


def test_44_66_71_stream_over_http_and_cancel(service: Service, upstream: FakeUpstream) -> None:
    with service.client(service.admin, base="/s/streams") as client:
        connector_id = make_connector(client, upstream.url())
        params = {
            "body": json.dumps({"messages": [{"role": "user", "content": "stream me"}]}),
            "stream": True,
        }
        with client.stream(
            "POST",
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": {"subAction": "stream", "subActionParams": params}},
            headers=XSRF,
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            raw = b"".join(response.iter_bytes())
        assert raw.endswith(b"data: [DONE]\n\n")
        end = wait_events(client, connector_id, 2)[0]
        assert end["llmrelay"]["usage_source"] == "stream"
        assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"]["total_tokens"] > 0

        # a client that goes away mid-stream: upstream cancelled, event still written
        upstream.stream([f" w{i}" for i in range(50)], chunk_delay=0.05, usage=False)
        with client.stream(
            "POST",
            f"/api/actions/connector/{connector_id}/_execute",
            json={
                "params": {
                    "subAction": "invokeStream",
                    "subActionParams": {"messages": [{"role": "user", "content": "x"}]},
                }
            },
            headers=XSRF,
        ) as response:
            for chunk in response.iter_bytes():
                if b"w2" in chunk:
                    break
        events = wait_events(client, connector_id, 4)
    cancelled = events[0]
    assert cancelled["llmrelay"]["stream_cancelled"] is True
    assert cancelled["llmrelay"]["usage_source"] == "estimated"
    completion = cancelled["kibana"]["action"]["execution"]["gen_ai"]["usage"]["completion_tokens"]
    assert 0 < completion < 50


def test_56_57_get_dashboard_depends_on_usage_read(
    service: Service, upstream: FakeUpstream
) -> None:
    reader = service.user("dash-reader", ["connectors_read"])
    watcher = service.user("dash-watcher", ["connectors_read", "usage_read"])
    with service.client(service.admin) as admin:
        connector_id = make_connector(admin, upstream.url())
    params = {"dashboardId": "generative-ai-token-usage-openai-default"}
    with service.client(reader) as client:
        denied = execute(client, connector_id, "getDashboard", params).json()
        events_denied = client.get(f"/api/event_log/connector/{connector_id}/_find")
    with service.client(watcher) as client:
        allowed = execute(client, connector_id, "getDashboard", params).json()
    assert denied == {"status": "ok", "connector_id": connector_id, "data": {"available": False}}
    assert allowed["data"] == {"available": True}
    assert events_denied.status_code == 403


ROLE_MATRIX = [
    # role, list, create, execute, events
    ("connectors_read", 200, 403, 200, 403),
    ("connectors_all", 200, 200, 200, 403),
    ("usage_read", 403, 403, 403, 200),
    ("admin", 200, 200, 200, 200),
]


@pytest.mark.parametrize(("role", "list_", "create_", "execute_", "events_"), ROLE_MATRIX)
def test_roles_allow_and_forbid(
    service: Service,
    upstream: FakeUpstream,
    role: str,
    list_: int,
    create_: int,
    execute_: int,
    events_: int,
) -> None:
    with service.client(service.admin, base="/s/roles") as admin:
        connector_id = make_connector(admin, upstream.url())
    key = service.api_key([role], ["roles"])
    body = {
        "name": "x",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
        "secrets": {"apiKey": "k"},
    }
    with service.client(key, base="/s/roles") as client:
        assert client.get("/api/actions/connectors").status_code == list_
        assert client.post("/api/actions/connector", json=body, headers=XSRF).status_code == create_
        assert execute(client, connector_id, "run", {"body": API_TEST_BODY}).status_code == execute_
        assert client.get(f"/api/event_log/connector/{connector_id}/_find").status_code == events_
    # grants are per space: the same key has nothing in another space
    with service.client(key, base="/s/elsewhere") as client:
        assert client.get("/api/actions/connectors").status_code == 403


def test_usage_endpoint_sums_rollups(service: Service, upstream: FakeUpstream) -> None:
    with service.client(service.admin, base="/s/usage") as client:
        connector_id = make_connector(client, upstream.url())
        for text in ("one two", "three four five"):
            body = json.dumps({"messages": [{"role": "user", "content": text}]})
            assert execute(client, connector_id, "run", {"body": body}).json()["status"] == "ok"
        events = wait_events(client, connector_id, 4)
        usage = client.get(
            f"/api/llmrelay/usage?start=now-1h&group_by=user&connector_id={connector_id}"
        ).json()
    finished = [e for e in events if e["event"]["action"] == "execute"]
    expected = sum(
        e["kibana"]["action"]["execution"]["gen_ai"]["usage"]["total_tokens"] for e in finished
    )
    assert usage["totals"]["total_tokens"] == expected
    assert usage["totals"]["executions"] == 2 and usage["totals"]["failures"] == 0
    assert {b["key"] for b in usage["buckets"]} == {"admin"}


def test_87_secrets_encrypted_at_rest_and_tamper_detected(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    settings = make_settings(tmp_path / "home")
    svc = start_service(settings)
    try:
        with svc.client(svc.admin) as client:
            connector_id = make_connector(client, upstream.url())
            renamed = client.put(
                f"/api/actions/connector/{connector_id}",
                json={
                    "name": "Renamed",
                    "config": {"apiProvider": "OpenAI", "apiUrl": upstream.url()},
                    "secrets": {"apiKey": SECRET},
                },
                headers=XSRF,
            )
            assert renamed.status_code == 200
            assert (
                execute(client, connector_id, "run", {"body": API_TEST_BODY}).json()["status"]
                == "ok"
            )
    finally:
        svc.thread.stop()
    db = Path(settings.database_url.split("///", 1)[1])
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert SECRET.encode() not in raw
    assert b"admin-password-for-tests" not in raw
    with sqlite3.connect(db) as conn:
        table = _connector_table(conn)
        sql = f"UPDATE {table} SET name = 'Renamed again' WHERE id = ?"  # noqa: S608 - from sqlite_master
        conn.execute(sql, (connector_id,))
    svc = start_service(settings)
    try:
        with svc.client(svc.admin) as client:
            renamed_ok = execute(client, connector_id, "run", {"body": API_TEST_BODY}).json()
    finally:
        svc.thread.stop()
    assert renamed_ok["status"] == "ok"  # the name is not bound to the ciphertext
    with sqlite3.connect(db) as conn:
        sql = f"UPDATE {table} SET config = replace(config, '/v1/', '/v2/') WHERE id = ?"  # noqa: S608
        assert conn.execute(sql, (connector_id,)).rowcount == 1
    svc = start_service(settings)
    try:
        with svc.client(svc.admin) as client:
            tampered = execute(client, connector_id, "run", {"body": API_TEST_BODY}).json()
            still_listed = client.get(f"/api/actions/connector/{connector_id}")
    finally:
        svc.thread.stop()
    assert tampered["status"] == "error"
    assert "decrypt" in tampered["message"].lower()
    assert SECRET not in json.dumps(tampered)
    assert still_listed.status_code == 200  # reading a connector never decrypts


def _connector_table(conn: sqlite3.Connection) -> str:
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return next(name for name in names if "connector" in name)


def test_stream_broken_upstream_ends_with_an_error_event(
    service: Service, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    with service.client(service.admin, base="/s/broken") as client:
        connector_id = make_connector(client, upstream.url())
        upstream.stream(["a", " b", " c", " d"], reset_after=3)
        params = {"messages": [{"role": "user", "content": "x"}]}
        with client.stream(
            "POST",
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": {"subAction": "invokeStream", "subActionParams": params}},
            headers=XSRF,
        ) as response:
            raw = b"".join(response.iter_bytes())
        end = wait_events(client, connector_id, 2)[0]
    assert raw.startswith(b"data: ")
    tail = raw.rsplit(b"\n\n", 2)[-2]
    assert tail.startswith(b"event: error\ndata: ")
    assert b"ECONNRESET" in tail
    assert end["event"]["outcome"] == "failure"
    assert "Traceback" not in caplog.text
