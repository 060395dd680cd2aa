"""Kibana's ``actions/get.ts`` and ``actions/get_all.ts``: one connector and the list, per
scenario, in their own space and from another one."""

from __future__ import annotations

import logging

import pytest

from tests.kibana.conftest import (
    PRECONFIGURED_ID,
    PRECONFIGURED_NAME,
    SCENARIOS,
    TYPE_ID,
    Kibana,
    Scenario,
    connector_response,
    forbidden,
    not_found,
    scenarios,
)

GET_DENIED = forbidden("Unauthorized to get actions")
PRECONFIGURED = {
    "id": PRECONFIGURED_ID,
    "name": PRECONFIGURED_NAME,
    "connector_type_id": TYPE_ID,
    "is_preconfigured": True,
    "is_deprecated": False,
    "is_system_action": False,
    "is_connector_type_deprecated": False,
}


@scenarios()
def test_get_connector(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    with kibana.client(scenario) as client:
        response = client.get(f"/api/actions/connector/{connector_id}")
    if not scenario.read:
        assert response.status_code == 403
        assert response.json() == GET_DENIED
        return
    assert response.status_code == 200
    assert response.json() == connector_response(
        connector_id,
        "My Connector",
        {"apiProvider": "OpenAI", "apiUrl": kibana.simulator_url, "defaultModel": "gpt-4.1"},
    )


@scenarios()
def test_connector_is_not_accessible_from_another_space(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space)
    with kibana.client(scenario, space="other") as client:
        response = client.get(f"/api/actions/connector/{connector_id}")
    if not scenario.read or "*" not in scenario.grants:  # no privilege in space "other"
        assert response.json() == GET_DENIED
        return
    assert response.status_code == 404
    assert response.json() == not_found(f"Saved object [action/{connector_id}] not found")


@scenarios()
def test_get_preconfigured_connector(kibana: Kibana, scenario: Scenario) -> None:
    with kibana.client(scenario) as client:
        response = client.get(f"/api/actions/connector/{PRECONFIGURED_ID}")
    if not scenario.read:
        assert response.json() == GET_DENIED
        return
    assert response.status_code == 200
    assert response.json() == PRECONFIGURED  # no config: exposeConfig is not set


@scenarios()
def test_get_all_connectors(kibana: Kibana, scenario: Scenario) -> None:
    connector_id = kibana.create(scenario.space, name="My Connector " + scenario.user)
    with kibana.client(scenario) as client:
        response = client.get("/api/actions/connectors")
    if not scenario.read:
        assert response.status_code == 403
        assert response.json() == GET_DENIED
        return
    assert response.status_code == 200
    listed = response.json()
    assert [c for c in listed if c["id"] == connector_id] == [
        {
            **connector_response(
                connector_id,
                "My Connector " + scenario.user,
                {
                    "apiProvider": "OpenAI",
                    "apiUrl": kibana.simulator_url,
                    "defaultModel": "gpt-4.1",
                },
            ),
            "referenced_by_count": 0,
        }
    ]
    assert {**PRECONFIGURED, "referenced_by_count": 0} in listed
    names = [c["name"].lower() for c in listed]
    assert names == sorted(names)  # Kibana sorts by name


@scenarios()
def test_get_all_shows_no_connector_of_another_space(kibana: Kibana, scenario: Scenario) -> None:
    kibana.create(scenario.space)
    with kibana.client(scenario, space="other") as client:
        response = client.get("/api/actions/connectors")
    if not scenario.read or "*" not in scenario.grants:
        assert response.json() == GET_DENIED
        return
    assert response.status_code == 200
    assert response.json() == [{**PRECONFIGURED, "referenced_by_count": 0}]


@pytest.mark.parametrize("path", ["/api/actions/connectors", "/api/actions/connector/x"])
def test_the_missing_role_goes_to_the_log_not_the_answer(
    kibana: Kibana, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    usage_only = next(s for s in SCENARIOS if s.user == "usage_only")
    with (
        caplog.at_level(logging.INFO, logger="llmrelay.auth"),
        kibana.client(usage_only) as client,
    ):
        response = client.get(path)
    assert response.json() == GET_DENIED
    hints = [r.getMessage() for r in caplog.records if r.name == "llmrelay.auth"]
    assert hints == [
        "forbidden: user [usage_only] may not get connectors in space [space1]: "
        "it needs the role [connectors_read]"
    ]
