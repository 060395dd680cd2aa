"""Kibana's ``actions/execute.ts`` (per scenario, with its event-log checks) and
``actions/connector_types.ts``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx

from llmrelay.testing import FakeUpstream
from tests.kibana.conftest import (
    API_KEY,
    SCENARIOS,
    TYPE_ID,
    XSRF,
    Kibana,
    Scenario,
    bad_request,
    forbidden,
    not_found,
    scenarios,
)

EXECUTE_BODY = '{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'
TEST_PARAMS = {"subAction": "test", "subActionParams": {"body": EXECUTE_BODY}}


def execute(client: httpx.Client, connector_id: str, body: object) -> httpx.Response:
    return client.post(f"/api/actions/connector/{connector_id}/_execute", json=body, headers=XSRF)


def events(kibana: Kibana, space: str, connector_id: str, count: int) -> list[dict[str, Any]]:
    """The connector's events, oldest first, once ``count`` are written (off the request
    path, as Kibana's ``retry.try`` around ``getEventLog`` waits for them)."""
    deadline = time.monotonic() + 10
    with kibana.admin(space) as admin:
        while True:
            page = admin.get(f"/api/event_log/connector/{connector_id}/_find?per_page=100")
            found = page.json()
            if found["total"] >= count or time.monotonic() > deadline:
                assert found["total"] == count, found
                docs: list[dict[str, Any]] = found["data"]
                return docs[::-1]
            time.sleep(0.05)


def millis(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def validate_event_log(
    kibana: Kibana, space: str, connector_id: str, name: str, body_bytes: int
) -> None:
    """Kibana's ``validateEventLog``: one execute-start and one execute event, alike."""
    start, end = events(kibana, space, connector_id, 2)
    assert [start["event"]["action"], end["event"]["action"]] == ["execute-start", "execute"]
    duration = end["event"]["duration"]
    assert isinstance(duration, str)  # Kibana's event log holds nanoseconds as a string
    assert start["event"]["start"] == end["event"]["start"]
    begun, ended = millis(end["event"]["start"]), millis(end["event"]["end"])
    assert begun <= ended <= time.time() * 1000
    # the millisecond stamps are truncated, the duration is exact: at most 1 ms apart
    assert abs(int(duration) // 1_000_000 - (ended - begun)) <= 1
    assert end["event"]["outcome"] == "success"
    reference = {"rel": "primary", "type": "action", "id": connector_id, "type_id": TYPE_ID}
    if space != "default":
        reference["namespace"] = space
    assert end["kibana"]["saved_objects"] == [reference]
    assert start["kibana"]["saved_objects"] == end["kibana"]["saved_objects"]
    assert end["message"] == f"action executed: {TYPE_ID}:{connector_id}: {name}"
    assert start["message"] == f"action started: {TYPE_ID}:{connector_id}: {name}"
    assert end["kibana"]["action"]["execution"]["usage"]["request_body_bytes"] == body_bytes
    assert end["kibana"]["action"]["execution"]["source"] == "http_request"


@scenarios()
def test_execute_connector(kibana: Kibana, scenario: Scenario, upstream: FakeUpstream) -> None:
    connector_id = kibana.create(scenario.space)
    with kibana.client(scenario) as client:
        response = execute(client, connector_id, {"params": TEST_PARAMS})
    if not scenario.read:
        assert response.status_code == 403
        assert response.json() == forbidden(f'Unauthorized to execute a "{TYPE_ID}" action')
        assert upstream.requests == []
        return
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert upstream.last_request.body == EXECUTE_BODY.encode()
    validate_event_log(kibana, scenario.space, connector_id, "My Connector", len(EXECUTE_BODY))


@scenarios()
def test_execute_connector_of_another_space(
    kibana: Kibana, scenario: Scenario, upstream: FakeUpstream
) -> None:
    connector_id = kibana.create(scenario.space)
    with kibana.client(scenario, space="other") as client:
        response = execute(client, connector_id, {"params": TEST_PARAMS})
    if not (scenario.read and "*" in scenario.grants):
        # the connector does not exist in "other": the 403 cannot name its type
        assert response.status_code == 403
        assert response.json() == forbidden("Unauthorized to execute actions")
        return
    assert response.status_code == 404
    assert response.json() == not_found(f"Saved object [action/{connector_id}] not found")
    assert upstream.requests == []


@scenarios()
def test_execute_after_the_connector_was_updated(
    kibana: Kibana, scenario: Scenario, upstream: FakeUpstream
) -> None:
    connector_id = kibana.create(scenario.space)
    update = {
        "name": "My Connector updated",
        "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m2"},
        "secrets": {"apiKey": "updated-key"},
    }
    with kibana.admin(scenario.space) as admin:
        put = admin.put(f"/api/actions/connector/{connector_id}", json=update, headers=XSRF)
        assert put.status_code == 200, put.text
    run = {"subAction": "run", "subActionParams": {"body": '{"messages":[]}'}}
    with kibana.client(scenario) as client:
        response = execute(client, connector_id, {"params": run})
    if not scenario.read:
        assert response.json() == forbidden(f'Unauthorized to execute a "{TYPE_ID}" action')
        return
    assert response.json()["status"] == "ok"
    sent = upstream.last_request  # the updated connector, not a cached copy of the old one
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer updated-key"
    assert sent.body == b'{"messages":[],"stream":false,"model":"m2"}'


@scenarios()
def test_execute_a_connector_that_does_not_exist(kibana: Kibana, scenario: Scenario) -> None:
    with kibana.client(scenario) as client:
        response = execute(client, "1", {"params": {"foo": True}})
    if not scenario.read:
        assert response.status_code == 403
        assert response.json() == forbidden("Unauthorized to execute actions")
        return
    assert response.status_code == 404
    assert response.json() == not_found("Saved object [action/1] not found")


@scenarios()
def test_execute_with_an_empty_payload(kibana: Kibana, scenario: Scenario) -> None:
    with kibana.client(scenario) as client:
        response = execute(client, "1", {})
    if not scenario.read:  # Kibana: the 400 below for everyone (body before privileges)
        assert response.json() == forbidden("Unauthorized to execute actions")
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "[request body.params]: expected value of type [object] but got [undefined]"
    )


def test_execute_body_schema(kibana: Kibana) -> None:
    connector_id = kibana.create("default")
    cases = [
        ({"params": None}, "[request body.params]: expected value of type [object] but got [null]"),
        ({"params": []}, "[request body.params]: expected value of type [object] but got [Array]"),
        (
            {"params": "x"},
            "[request body.params]: expected value of type [object] but got [string]",
        ),
        (
            {"params": {}, "extra": 1},
            "[request body.extra]: definition for this key is missing",
        ),
        (None, "[request body]: expected a plain object value, but found [null] instead."),
    ]
    with kibana.admin() as admin:
        for body, message in cases:
            response = execute(admin, connector_id, body)
            assert response.status_code == 400, body
            assert response.json() == bad_request(message)


@scenarios()
def test_execute_with_an_api_key_records_it(
    kibana: Kibana, scenario: Scenario, upstream: FakeUpstream
) -> None:
    """Kibana's "should log api key information from execute request": the key's id and
    name on the execution's events (the id ``llmrelay api-keys list`` shows)."""
    connector_id = kibana.create(scenario.space)
    key_name = f"test user managed key {scenario.user} {scenario.space}"
    key_id, header = kibana.api_key(key_name, ["admin"], owner="superuser")
    with kibana.service.client({"Authorization": header}, base=f"/s/{scenario.space}") as client:
        response = execute(client, connector_id, {"params": TEST_PARAMS})
    assert response.status_code == 200 and response.json()["status"] == "ok"
    listed = kibana.service.access_call(lambda a: a.list_api_keys())
    assert key_id in [key.id for key in listed if key.name == key_name]
    for event in events(kibana, scenario.space, connector_id, 2):
        assert event["kibana"]["user_api_key"] == {"id": key_id, "name": key_name}
        assert event["user"] == {"name": "superuser"}  # the key acts as its owner


def test_execute_with_a_password_records_no_api_key(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = kibana.create("space1")
    superuser = SCENARIOS[0]
    with kibana.client(superuser) as client:
        assert execute(client, connector_id, {"params": TEST_PARAMS}).json()["status"] == "ok"
    for event in events(kibana, "space1", connector_id, 2):
        assert "user_api_key" not in event["kibana"]
        assert event["user"] == {"name": "superuser"}


def test_event_log_find_needs_usage_read(kibana: Kibana) -> None:
    connector_id = kibana.create("space1")
    allowed = {s.id for s in SCENARIOS if s.usage}
    for scenario in SCENARIOS:
        with kibana.client(scenario) as client:
            found = client.get(f"/api/event_log/connector/{connector_id}/_find")
            usage = client.get("/api/llmrelay/usage")
        if scenario.id in allowed:
            assert found.status_code == 200 and usage.status_code == 200, scenario.id
            continue
        # what Kibana's event log answers when the caller may not get the connector
        assert found.json() == forbidden("Unauthorized to get actions"), scenario.id
        assert usage.json() == forbidden("Unauthorized to get usage"), scenario.id


@scenarios()
def test_connector_types(kibana: Kibana, scenario: Scenario) -> None:
    """Kibana lists connector types to every authenticated user, privileges or not."""
    with kibana.client(scenario) as client:
        response = client.get("/api/actions/connector_types")
    assert response.status_code == 200
    assert [(t["id"], t["name"]) for t in response.json()] == [
        (TYPE_ID, "OpenAI"),
        (".llmrelay-route", "llmrelay route"),  # llmrelay's own type (issue 19, deviation n)
    ]


def test_connector_types_need_authentication(kibana: Kibana) -> None:
    with kibana.service.client() as client:
        response = client.get("/api/actions/connector_types")
    assert response.status_code == 401


def test_no_answer_holds_the_connectors_api_key(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = kibana.create("default")
    with kibana.admin() as admin:
        answers = [
            admin.get(f"/api/actions/connector/{connector_id}"),
            admin.get("/api/actions/connectors"),
            execute(admin, connector_id, {"params": TEST_PARAMS}),
        ]
    docs = events(kibana, "default", connector_id, 2)
    for text in [a.text for a in answers] + [json.dumps(docs)]:
        assert API_KEY not in text
