"""Route connectors through Kibana's actions API: created, listed, read, updated and
deleted like ``.gen-ai``, listed by ``connector_types``, and refused with a 400 naming the
problem (no targets, an unknown connector, a weight below 1, negative retries, a loop)."""

from __future__ import annotations

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.routes.conftest import ROUTE, XSRF, create_route, gen_ai, route_config

PREFIX = "error validating connector type config: "


def test_route_is_a_connector_type(client: httpx.Client) -> None:
    types = client.get("/api/actions/connector_types").json()
    by_id = {t["id"]: t for t in types}
    assert set(by_id) == {".gen-ai", ROUTE}
    assert by_id[ROUTE]["enabled"] is True
    assert by_id[ROUTE]["name"] == "llmrelay route"
    filtered = client.get("/api/actions/connector_types?feature_id=generativeAIForSecurity").json()
    assert ROUTE in {t["id"] for t in filtered}


def test_create_get_list_update_delete(client: httpx.Client, upstream: FakeUpstream) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream.url(), "b")
    route_id = create_route(client, route_config([(a, 2)], [b], retries=1))
    shown = client.get(f"/api/actions/connector/{route_id}").json()
    assert shown["connector_type_id"] == ROUTE
    assert shown["config"] == {
        "targets": [{"connectorId": a, "weight": 2}],
        "fallbacks": [b],
        "retries": 1,
        "cooldownSeconds": 30,
    }
    listed = {c["id"]: c for c in client.get("/api/actions/connectors").json()}
    assert listed[route_id]["config"]["fallbacks"] == [b]
    updated = client.put(
        f"/api/actions/connector/{route_id}",
        json={"name": "renamed", "config": route_config([a, b], cooldownSeconds=5)},
        headers=XSRF,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "renamed"
    assert updated.json()["config"]["cooldownSeconds"] == 5
    assert client.delete(f"/api/actions/connector/{route_id}", headers=XSRF).status_code == 204
    assert client.get(f"/api/actions/connector/{route_id}").status_code == 404


def _refused(client: httpx.Client, config: object, secrets: object = None) -> str:
    body: dict[str, object] = {"name": "bad", "connector_type_id": ROUTE, "config": config}
    if secrets is not None:
        body["secrets"] = secrets
    response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Bad Request"
    message: str = response.json()["message"]
    assert "None" not in message
    return message


def test_no_targets(client: httpx.Client) -> None:
    expected = PREFIX + "[targets]: a route needs at least one target"
    assert _refused(client, {"targets": []}) == expected
    assert _refused(client, {}) == expected


def test_unknown_connector(client: httpx.Client, upstream: FakeUpstream) -> None:
    a = gen_ai(client, upstream.url())
    message = _refused(client, route_config([a], ["nope"]))
    assert message == PREFIX + '[fallbacks.0]: no connector "nope" in this space'
    message = _refused(client, route_config(["ghost"]))
    assert message == PREFIX + '[targets.0.connectorId]: no connector "ghost" in this space'


def test_connector_of_another_space_is_unknown(
    route_service: object, client: httpx.Client, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url())
    body = {"name": "r", "connector_type_id": ROUTE, "config": route_config([a])}
    response = client.post("/s/other/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 400
    assert f'no connector "{a}" in this space' in response.json()["message"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"targets": [{"connectorId": "X", "weight": 0}]},
            "[targets.0.weight]: weight must be 1 or more, got 0",
        ),
        (
            {"targets": [{"connectorId": "X"}], "retries": -1},
            "[retries]: retries must be 0 or more, got -1",
        ),
        (
            {"targets": [{"connectorId": "X"}], "retries": 11},
            "[retries]: retries must be 10 or fewer",
        ),
        (
            {"targets": [{"connectorId": "X"}], "cooldownSeconds": -2},
            "[cooldownSeconds]: cooldownSeconds must be 0 or more",
        ),
        ({"targets": [{"connectorId": "X"}], "extra": 1}, 'Unrecognized keys: "extra"'),
        (
            {"targets": [{"connectorId": "X", "weight": "2"}]},
            "[targets.0.weight]: Expected number, received string",
        ),
    ],
)
def test_value_rules(
    client: httpx.Client, upstream: FakeUpstream, config: dict[str, object], expected: str
) -> None:
    a = gen_ai(client, upstream.url())
    config = {**config, "targets": [{**t, "connectorId": a} for t in config["targets"]]}  # type: ignore[attr-defined]
    assert _refused(client, config) == PREFIX + expected


def test_secrets_are_refused(client: httpx.Client, upstream: FakeUpstream) -> None:
    a = gen_ai(client, upstream.url())
    message = _refused(client, route_config([a]), secrets={"apiKey": "sk"})
    assert message == (
        "error validating connector type secrets: a route has no secrets; "
        "its targets hold their own"
    )


def test_a_loop_through_other_routes_is_refused(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url())
    first = create_route(client, route_config([a]), "first")
    second = create_route(client, route_config([first]), "second")
    response = client.put(
        f"/api/actions/connector/{first}",
        json={"name": "first", "config": route_config([a], [second])},
        headers=XSRF,
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        PREFIX + f'[fallbacks.0]: a loop: "{first}" -> "{second}" -> "{first}"'
    )
    itself = client.put(
        f"/api/actions/connector/{first}",
        json={"name": "first", "config": route_config([first])},
        headers=XSRF,
    )
    assert itself.status_code == 400
    assert itself.json()["message"] == (
        PREFIX + f'[targets.0.connectorId]: a route cannot name itself ("{first}")'
    )
    # a route of routes without a loop is fine
    assert client.get(f"/api/actions/connector/{second}").json()["config"]["targets"] == [
        {"connectorId": first, "weight": 1}
    ]
