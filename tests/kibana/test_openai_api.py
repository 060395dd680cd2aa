"""Kibana's API integration test for the OpenAI connector
(``security_and_spaces/group2/tests/actions/connector_types/openai.ts``), against the
FakeUpstream in the role of Kibana's OpenAI simulator."""

from __future__ import annotations

from typing import Any

import httpx

from llmrelay.testing import FakeUpstream
from tests.kibana.conftest import (
    API_KEY,
    SCENARIOS,
    SIMULATOR_PATH,
    TYPE_ID,
    XSRF,
    Kibana,
    bad_request,
    connector_response,
)
from tests.kibana.test_execute import EXECUTE_BODY, events

NAME = "A genAi action"


def create(kibana: Kibana, config: dict[str, Any], **extra: Any) -> httpx.Response:
    body = {"name": NAME, "connector_type_id": TYPE_ID, "config": config, **extra}
    with kibana.admin() as admin:
        return admin.post("/api/actions/connector", json=body, headers=XSRF)


def execute(kibana: Kibana, connector_id: str, params: object, space: str = "") -> Any:
    with kibana.admin(space or "default") as admin:
        response = admin.post(
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": params},
            headers=XSRF,
        )
    assert response.status_code == 200
    return response.json()


def simulator_connector(kibana: Kibana, upstream: FakeUpstream, space: str = "default") -> str:
    return kibana.create(space, url=upstream.url(SIMULATOR_PATH), name=NAME)


# --- action creation -----------------------------------------------------------------------
def test_create_without_a_default_model(kibana: Kibana, upstream: FakeUpstream) -> None:
    config = {"apiProvider": "OpenAI", "apiUrl": upstream.url(SIMULATOR_PATH)}
    response = create(kibana, config, secrets={"apiKey": API_KEY})
    assert response.status_code == 200
    body = response.json()
    assert body == connector_response(body["id"], NAME, {**config, "defaultModel": "gpt-4.1"})


def test_create_with_a_default_model(kibana: Kibana, upstream: FakeUpstream) -> None:
    config = {
        "apiProvider": "OpenAI",
        "apiUrl": upstream.url(SIMULATOR_PATH),
        "defaultModel": "gpt-3.5-turbo",
    }
    response = create(kibana, config, secrets={"apiKey": API_KEY})
    assert response.status_code == 200
    assert response.json() == connector_response(response.json()["id"], NAME, config)


def test_create_without_the_api_provider(kibana: Kibana, upstream: FakeUpstream) -> None:
    response = create(kibana, {"apiUrl": upstream.url(SIMULATOR_PATH)}, secrets={"apiKey": "123"})
    # Kibana's newer (zod) schema; the old config-schema union listed one line per provider
    assert response.json() == bad_request(
        "error validating connector type config: "
        '[apiProvider]: Required; expected one of "OpenAI", "Azure OpenAI", "Other"'
    )


def test_create_without_the_api_url(kibana: Kibana) -> None:
    response = create(kibana, {"apiProvider": "OpenAI"}, secrets={"apiKey": API_KEY})
    assert response.json() == bad_request(
        "error validating connector type config: [apiUrl]: Required"
    )


def test_create_with_an_api_url_that_is_not_allowed(kibana: Kibana) -> None:
    config = {"apiProvider": "OpenAI", "apiUrl": "http://genAi.mynonexistent.com"}
    response = create(kibana, config, secrets={"apiKey": API_KEY})
    assert response.json() == bad_request(
        "error validating connector type config: Error configuring OpenAI action: Error: "
        'error validating url: target url "http://genAi.mynonexistent.com" is not added to '
        "the Kibana config xpack.actions.allowedHosts"
    )


def test_create_without_secrets(kibana: Kibana, upstream: FakeUpstream) -> None:
    response = create(kibana, {"apiProvider": "OpenAI", "apiUrl": upstream.url(SIMULATOR_PATH)})
    assert response.json() == bad_request(
        "error validating connector type secrets: "
        "[apiKey]: expected value of type [string] but got [undefined]"
    )


# --- executor: validation ------------------------------------------------------------------
def test_execute_with_empty_params(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = simulator_connector(kibana, upstream)
    assert execute(kibana, connector_id, {}) == {
        "status": "error",
        "connector_id": connector_id,
        # zod wording (Kibana's config-schema says "expected value of type [string] but got
        # [undefined]"; docs/deviations.md, smaller choices)
        "message": "error validating action params: [subAction]: Required",
        "retry": False,
        "errorSource": "user",
    }
    assert upstream.requests == []


def test_execute_with_an_invalid_sub_action(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = simulator_connector(kibana, upstream)
    assert execute(kibana, connector_id, {"subAction": "invalidAction"}) == {
        "status": "error",
        "connector_id": connector_id,
        "message": "an error occurred while running the action",
        "retry": True,
        "errorSource": "framework",
        "service_message": f'Sub action "invalidAction" is not registered. Connector id: '
        f"{connector_id}. Connector name: OpenAI. Connector type: .gen-ai",
    }


# --- executor: execution -------------------------------------------------------------------
def test_execute_sends_the_stringified_json_object(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = simulator_connector(kibana, upstream)
    result = execute(
        kibana, connector_id, {"subAction": "test", "subActionParams": {"body": EXECUTE_BODY}}
    )
    # a simulator URL is not api.openai.com: the body goes as given, byte for byte
    sent = upstream.last_request
    assert sent.body == EXECUTE_BODY.encode()
    assert sent.json == {
        "model": "gpt-3.5-turbo",
        "messages": [{"role": "user", "content": "Hello world"}],
    }
    assert result["status"] == "ok" and result["connector_id"] == connector_id
    assert result["data"]["object"] == "chat.completion"
    assert result["data"]["choices"][0]["message"]["content"] == "You said: Hello world"
    start, end = events(kibana, "default", connector_id, 2)
    assert (start["event"]["action"], end["event"]["action"]) == ("execute-start", "execute")
    assert end["kibana"]["action"]["execution"]["usage"]["request_body_bytes"] == 78


def test_dashboard_is_not_available_without_event_log_access(
    kibana: Kibana, upstream: FakeUpstream
) -> None:
    """Kibana's ``global_read`` user: may execute, may not read the event log."""
    connector_id = simulator_connector(kibana, upstream, "space1")
    reader = next(s for s in SCENARIOS if s.user == "global_read")
    params = {
        "subAction": "getDashboard",
        "subActionParams": {"dashboardId": "specific-dashboard-id-default"},
    }
    with kibana.client(reader) as client:
        response = client.post(
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": params},
            headers=XSRF,
        )
    assert response.json() == {
        "status": "ok",
        "connector_id": connector_id,
        "data": {"available": False},
    }


def test_dashboard_is_available_with_event_log_access(
    kibana: Kibana, upstream: FakeUpstream
) -> None:
    for space in ("default", "space1"):
        connector_id = simulator_connector(kibana, upstream, space)
        params = {
            "subAction": "getDashboard",
            "subActionParams": {"dashboardId": f"specific-dashboard-id-{space}"},
        }
        assert execute(kibana, connector_id, params, space) == {
            "status": "ok",
            "connector_id": connector_id,
            "data": {"available": True},
        }
    assert upstream.requests == []  # nothing is asked of the model server


def test_execute_against_the_error_simulator(kibana: Kibana, upstream: FakeUpstream) -> None:
    connector_id = simulator_connector(kibana, upstream)
    upstream.fail(422, "The model `bad model` does not exist")
    params = {
        "subAction": "test",
        "subActionParams": {"body": '{"model":"bad model","messages":[]}'},
    }
    assert execute(kibana, connector_id, params) == {
        "status": "error",
        "connector_id": connector_id,
        "message": "an error occurred while running the action",
        "retry": True,
        "errorSource": "framework",
        "service_message": "Status code: 422. Message: API Error: Unprocessable Entity - "
        "The model `bad model` does not exist",
    }
