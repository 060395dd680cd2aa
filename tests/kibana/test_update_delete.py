"""Kibana's ``actions/update.ts`` and ``actions/delete.ts``, per scenario."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kibana.conftest import (
    API_KEY,
    PRECONFIGURED_ID,
    XSRF,
    Kibana,
    Scenario,
    bad_request,
    connector_response,
    forbidden,
    not_found,
    scenarios,
)

UPDATE_DENIED = forbidden("Unauthorized to update actions")
DELETE_DENIED = forbidden("Unauthorized to delete actions")


def update_body(kibana: Kibana, name: str = "My Connector updated") -> dict[str, Any]:
    return {
        "name": name,
        "config": {"apiProvider": "OpenAI", "apiUrl": kibana.simulator_url},
        "secrets": {"apiKey": API_KEY},
    }


def put(
    kibana: Kibana, scenario: Scenario, connector_id: str, body: object, space: str = ""
) -> Any:
    with kibana.client(scenario, space=space or None) as client:
        return client.put(f"/api/actions/connector/{connector_id}", json=body, headers=XSRF)


def delete(kibana: Kibana, scenario: Scenario, connector_id: str, space: str = "") -> Any:
    with kibana.client(scenario, space=space or None) as client:
        return client.delete(f"/api/actions/connector/{connector_id}", headers=XSRF)


# --- update --------------------------------------------------------------------------------
@scenarios()
def test_update_connector(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    response = put(kibana, scenario, connector_id, update_body(kibana))
    with kibana.admin(scenario.space) as admin:
        stored = admin.get(f"/api/actions/connector/{connector_id}").json()
    if not scenario.write:
        assert response.status_code == 403
        assert response.json() == UPDATE_DENIED
        assert stored["name"] == "My Connector"  # unchanged
        return
    assert response.status_code == 200, response.text
    expected = connector_response(
        connector_id,
        "My Connector updated",
        {"apiProvider": "OpenAI", "apiUrl": kibana.simulator_url, "defaultModel": "gpt-4.1"},
    )
    assert response.json() == expected
    assert stored == expected


@scenarios()
def test_update_connector_from_another_space(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    response = put(kibana, scenario, connector_id, update_body(kibana), space="other")
    if not (scenario.write and "*" in scenario.grants):
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 404
    assert response.json() == not_found(f"Saved object [action/{connector_id}] not found")


@scenarios()
def test_update_with_a_null_config(kibana: Kibana, scenario: Scenario) -> None:
    response = put(kibana, scenario, "1", {"name": "My Connector updated", "config": None})
    if not scenario.write:  # Kibana: the 400 below for everyone (body before privileges)
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "[request body.config]: expected value of type [object] but got [null]"
    )


@scenarios()
def test_update_a_connector_that_does_not_exist(kibana: Kibana, scenario: Scenario) -> None:
    response = put(kibana, scenario, "1", update_body(kibana))
    if not scenario.write:
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 404
    assert response.json() == not_found("Saved object [action/1] not found")


@scenarios()
def test_update_with_an_empty_payload(kibana: Kibana, scenario: Scenario) -> None:
    response = put(kibana, scenario, "1", {})
    if not scenario.write:
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "[request body.name]: expected value of type [string] but got [undefined]"
    )


@scenarios()
def test_update_with_invalid_secrets(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    body = {**update_body(kibana), "secrets": {"apiKey": 42}}
    response = put(kibana, scenario, connector_id, body)
    if not scenario.write:
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 400
    # Kibana's zod text differs in form (docs/deviations.md, smaller choices)
    assert response.json() == bad_request(
        "error validating connector type secrets: [apiKey]: Expected string, received number"
    )


@scenarios()
def test_update_a_preconfigured_connector(kibana: Kibana, scenario: Scenario) -> None:
    response = put(kibana, scenario, PRECONFIGURED_ID, update_body(kibana))
    if not scenario.write:
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        f"Preconfigured action {PRECONFIGURED_ID} can not be updated."
    )


@scenarios()
def test_update_with_empty_strings(kibana: Kibana, scenario: Scenario) -> None:
    body = update_body(kibana)
    body["config"]["apiUrl"] = " "
    response = put(kibana, scenario, "1", body)
    if not scenario.write:
        assert response.json() == UPDATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request("[request body.config.apiUrl]: value '' is not valid")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "x", "connector_type_id": ".gen-ai"},
            "[request body.connector_type_id]: definition for this key is missing",
        ),
        ({"name": 1}, "[request body.name]: expected value of type [string] but got [number]"),
        (
            {"name": "x", "secrets": []},
            "[request body.secrets]: expected value of type [object] but got [Array]",
        ),
        ([], "[request body]: expected a plain object value, but found [Array] instead."),
    ],
)
def test_update_body_schema(kibana: Kibana, body: object, message: str) -> None:
    with kibana.admin() as admin:
        response = admin.put("/api/actions/connector/1", json=body, headers=XSRF)
    assert response.status_code == 400
    assert response.json() == bad_request(message)


def test_update_keeping_secrets_accepts_empty_secret_fields(kibana: Kibana) -> None:
    """llmrelay's edit form (``keep_secrets=true``): an empty secret means "keep it"."""
    connector_id = kibana.create("default")
    body = {**update_body(kibana, "Kept"), "secrets": {"apiKey": ""}}
    with kibana.admin() as admin:
        kept = admin.put(
            f"/api/actions/connector/{connector_id}?keep_secrets=true", json=body, headers=XSRF
        )
        replaced = admin.put(f"/api/actions/connector/{connector_id}", json=body, headers=XSRF)
    assert kept.status_code == 200 and kept.json()["name"] == "Kept"
    assert replaced.json() == bad_request("[request body.secrets.apiKey]: value '' is not valid")


# --- delete --------------------------------------------------------------------------------
@scenarios()
def test_delete_connector(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    response = delete(kibana, scenario, connector_id)
    with kibana.admin(scenario.space) as admin:
        after = admin.get(f"/api/actions/connector/{connector_id}")
    if not scenario.write:
        assert response.status_code == 403
        assert response.json() == DELETE_DENIED
        assert after.status_code == 200  # still there
        return
    assert response.status_code == 204
    assert response.content == b""
    assert after.status_code == 404


@scenarios()
def test_delete_connector_from_another_space(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    response = delete(kibana, scenario, connector_id, space="other")
    if not (scenario.write and "*" in scenario.grants):
        assert response.json() == DELETE_DENIED
        return
    assert response.status_code == 404
    assert response.json() == not_found(f"Saved object [action/{connector_id}] not found")


@scenarios()
def test_delete_a_connector_that_does_not_exist(kibana: Kibana, scenario: Scenario) -> None:
    response = delete(kibana, scenario, "2")
    if not scenario.write:
        assert response.json() == DELETE_DENIED
        return
    assert response.status_code == 404
    assert response.json() == not_found("Saved object [action/2] not found")


@scenarios()
def test_delete_a_preconfigured_connector(kibana: Kibana, scenario: Scenario) -> None:
    response = delete(kibana, scenario, PRECONFIGURED_ID)
    if not scenario.write:
        assert response.json() == DELETE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        f"Preconfigured action {PRECONFIGURED_ID} is not allowed to delete."
    )
