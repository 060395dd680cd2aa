"""Kibana's ``actions/create.ts``: ``POST /api/actions/connector[/{id}]`` per scenario,
plus the route's body schema (``@kbn/config-schema`` messages)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import make_settings, start_service
from tests.kibana.conftest import (
    PRECONFIGURED_ID,
    TYPE_ID,
    XSRF,
    Kibana,
    Scenario,
    bad_request,
    connector_response,
    forbidden,
    openai_body,
    scenarios,
)

CREATE_DENIED = forbidden(f'Unauthorized to create a "{TYPE_ID}" action')


def post(kibana: Kibana, scenario: Scenario, body: object, path: str = "") -> Any:
    with kibana.client(scenario) as client:
        return client.post(f"/api/actions/connector{path}", json=body, headers=XSRF)


@scenarios()
def test_create_connector(kibana: Kibana, scenario: Scenario) -> None:
    response = post(kibana, scenario, openai_body(kibana.simulator_url))
    if not scenario.write:
        assert response.status_code == 403
        assert response.json() == CREATE_DENIED
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["id"], str) and body["id"]
    assert body == connector_response(
        body["id"],
        "My Connector",
        {"apiProvider": "OpenAI", "apiUrl": kibana.simulator_url, "defaultModel": "gpt-4.1"},
    )
    with kibana.admin(scenario.space) as admin:  # stored where it was created
        assert admin.get(f"/api/actions/connector/{body['id']}").status_code == 200


@scenarios()
def test_create_unregistered_type(kibana: Kibana, scenario: Scenario) -> None:
    body = {"name": "My Connector", "connector_type_id": "test.unregistered-action-type"}
    response = post(kibana, scenario, {**body, "config": {}})
    if not scenario.write:
        assert response.status_code == 403
        assert response.json() == forbidden(
            'Unauthorized to create a "test.unregistered-action-type" action'
        )
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        'Action type "test.unregistered-action-type" is not registered.'
    )


@scenarios()
def test_create_with_an_empty_payload(kibana: Kibana, scenario: Scenario) -> None:
    """Kibana: 400 for everyone. llmrelay checks the privilege first; the body names no
    type, so the 403 names none either (never a ``None``)."""
    response = post(kibana, scenario, {})
    if not scenario.write:
        assert response.status_code == 403
        assert response.json() == forbidden("Unauthorized to create actions")
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "[request body.name]: expected value of type [string] but got [undefined]"
    )


@scenarios()
def test_create_with_invalid_secrets(kibana: Kibana, scenario: Scenario) -> None:
    body = openai_body(kibana.simulator_url)
    del body["secrets"]
    response = post(kibana, scenario, body)
    if not scenario.write:
        assert response.json() == CREATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "error validating connector type secrets: "
        "[apiKey]: expected value of type [string] but got [undefined]"
    )


@scenarios()
def test_create_with_empty_strings(kibana: Kibana, scenario: Scenario) -> None:
    body = openai_body(kibana.simulator_url, organizationId=" ")
    response = post(kibana, scenario, body)
    if not scenario.write:
        assert response.json() == CREATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        "[request body.config.organizationId]: value '' is not valid"
    )


@scenarios()
def test_create_with_a_predefined_id(kibana: Kibana, scenario: Scenario) -> None:
    predefined = str(uuid.uuid4())
    response = post(kibana, scenario, openai_body(kibana.simulator_url), f"/{predefined}")
    if not scenario.write:
        assert response.json() == CREATE_DENIED
        return
    assert response.status_code == 200, response.text
    assert response.json()["id"] == predefined
    again = post(kibana, scenario, openai_body(kibana.simulator_url), f"/{predefined}")
    assert again.status_code == 409


@scenarios()
def test_create_with_the_id_of_a_preconfigured_connector(
    kibana: Kibana, scenario: Scenario
) -> None:
    response = post(kibana, scenario, openai_body(kibana.simulator_url), f"/{PRECONFIGURED_ID}")
    if not scenario.write:
        assert response.json() == CREATE_DENIED
        return
    assert response.status_code == 400
    assert response.json() == bad_request(
        f"This {PRECONFIGURED_ID} already exists in a preconfigured action."
    )


def test_create_refused_for_a_type_that_is_not_enabled(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    settings = make_settings(tmp_path, **{"xpack.actions.enabledActionTypes": [".slack"]})
    service = start_service(settings)
    try:
        reader = service.user("reader", ["connectors_read"])
        with service.client(service.admin) as admin, service.client(reader) as other:
            enabled = admin.post(
                "/api/actions/connector", json=openai_body(upstream.url()), headers=XSRF
            )
            denied = other.post(
                "/api/actions/connector", json=openai_body(upstream.url()), headers=XSRF
            )
    finally:
        service.thread.stop()
    assert enabled.status_code == 403
    assert enabled.json() == forbidden(
        'action type ".gen-ai" is not enabled in the Kibana config xpack.actions.enabledActionTypes'
    )
    assert denied.json() == CREATE_DENIED


# --- the route's body schema (config-schema messages; JavaScript type names) -------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "[request body]: expected a plain object value, but found [null] instead."),
        ([], "[request body]: expected a plain object value, but found [Array] instead."),
        ("x", "[request body]: expected a plain object value, but found [string] instead."),
        (
            {"name": None},
            "[request body.name]: expected value of type [string] but got [null]",
        ),
        ({"name": 5}, "[request body.name]: expected value of type [string] but got [number]"),
        (
            {"name": True},
            "[request body.name]: expected value of type [string] but got [boolean]",
        ),
        ({"name": {}}, "[request body.name]: expected value of type [string] but got [Object]"),
        ({"name": [1]}, "[request body.name]: expected value of type [string] but got [Array]"),
        ({"name": "  "}, "[request body.name]: value '' is not valid"),
        (
            {"name": "x"},
            "[request body.connector_type_id]: expected value of type [string] but got [undefined]",
        ),
        (
            {"name": "x", "connector_type_id": None},
            "[request body.connector_type_id]: expected value of type [string] but got [null]",
        ),
        (
            {"name": "x", "connector_type_id": ""},
            "[request body.connector_type_id]: value '' is not valid",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "config": None},
            "[request body.config]: expected value of type [object] but got [null]",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "config": []},
            "[request body.config]: expected value of type [object] but got [Array]",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "config": "c"},
            "[request body.config]: expected value of type [object] but got [string]",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "secrets": 1},
            "[request body.secrets]: expected value of type [object] but got [number]",
        ),
        (
            {
                "name": "x",
                "connector_type_id": TYPE_ID,
                "config": {"headers": {"X-Team": " "}},
            },
            "[request body.config.headers]: value '' is not valid",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "secrets": {"apiKey": ""}},
            "[request body.secrets.apiKey]: value '' is not valid",
        ),
        (
            {"name": "x", "connector_type_id": TYPE_ID, "bogus": 1},
            "[request body.bogus]: definition for this key is missing",
        ),
        # the known keys are checked (in the schema's order) before unknown ones
        ({"bogus": 1}, "[request body.name]: expected value of type [string] but got [undefined]"),
        # the body's shape comes before the connector's config
        (
            {"name": "x", "connector_type_id": TYPE_ID, "config": {}, "secrets": None},
            "[request body.secrets]: expected value of type [object] but got [null]",
        ),
    ],
)
def test_create_body_schema(kibana: Kibana, body: object, message: str) -> None:
    with kibana.admin() as admin:
        response = admin.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 400
    assert response.json() == bad_request(message)


def test_a_body_without_a_type_is_never_called_none(kibana: Kibana) -> None:
    """The regression: ``POST {"name": "x", "connector_type_id": null}`` once answered
    ``Connector type "None" is not registered.``"""
    with kibana.admin() as admin:
        response = admin.post(
            "/api/actions/connector", json={"name": "x", "connector_type_id": None}, headers=XSRF
        )
    assert response.status_code == 400
    assert "None" not in response.json()["message"]
