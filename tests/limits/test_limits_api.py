"""``/api/llmrelay/limits``: CRUD per space, admin only (Kibana's 403 form), 400s naming
the field, 404 for an unknown id, current use; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.fixtures.service import Service
from tests.limits.conftest import api, create_limit

BODY = {"name": "team", "scope": {"user": "alice"}, "requests_per_minute": 60}


def test_create_get_list_update_delete(service: Service) -> None:
    created = create_limit(service, "lim-crud", {**BODY, "tokens_per_day": 2000})
    limit_id = created["id"]
    assert created == {
        "id": limit_id,
        "name": "team",
        "scope": {"user": "alice"},
        "requests_per_minute": 60,
        "tokens_per_day": 2000,
        "current": {
            "requests_this_minute": 0,
            "tokens_this_minute": 0,
            "cost_usd_this_minute": 0.0,
            "requests_today": 0,
            "tokens_today": 0,
            "cost_usd_today": 0.0,
        },
    }
    with api(service, "lim-crud") as client:
        assert client.get(f"/api/llmrelay/limits/{limit_id}").json() == created
        assert client.get("/api/llmrelay/limits").json() == {"data": [created]}
        changed = client.put(
            f"/api/llmrelay/limits/{limit_id}",
            json={"name": "renamed", "scope": {"api_key": "k1"}, "cost_usd_per_month": 2.5},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["cost_usd_per_month"] == 2.5
        assert "requests_per_minute" not in changed.json()
        assert set(changed.json()["current"]) == {
            "requests_this_month",
            "tokens_this_month",
            "cost_usd_this_month",
        }
        assert client.delete(f"/api/llmrelay/limits/{limit_id}").status_code == 204
        assert client.get("/api/llmrelay/limits").json() == {"data": []}


def test_limits_belong_to_their_space(service: Service) -> None:
    created = create_limit(service, "lim-space-a", BODY)
    with api(service, "lim-space-b") as other:
        assert other.get("/api/llmrelay/limits").json() == {"data": []}
        missing = other.get(f"/api/llmrelay/limits/{created['id']}")
    assert missing.status_code == 404
    with api(service, "lim-space-a") as client:
        wrong_space = client.post(
            "/api/llmrelay/limits", json={**BODY, "scope": {"space": "lim-space-b"}}
        )
        own_space = client.post(
            "/api/llmrelay/limits", json={**BODY, "scope": {"space": "lim-space-a"}}
        )
    assert wrong_space.status_code == 400
    assert wrong_space.json()["message"] == "[scope.space]: must be the space the limit belongs to"
    assert own_space.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**BODY, "requests_per_minute": 1.5},
            "[requests_per_minute]: Expected integer, received float",
        ),
        (
            {**BODY, "scope": {"user": "a", "connector": "b"}},
            '[scope]: Expected exactly one of "connector", "user", "api_key", "space"',
        ),
        ({"name": "x", "scope": {"user": "a"}}, "At least one of"),
        ({**BODY, "tokens_per_day": -1}, "[tokens_per_day]: Number must be greater than 0"),
        ({**BODY, "name": " "}, "[name]: must not be empty or whitespace only"),
        ({**BODY, "bogus": 1}, "bogus"),
        ([1], "Expected object, received array"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(service: Service, body: object, message: str) -> None:
    with api(service, "lim-bad") as client:
        response = client.post("/api/llmrelay/limits", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["statusCode"] == 400 and answer["error"] == "Bad Request"
    assert message in answer["message"]
    assert "None" not in answer["message"]


def test_bad_json_and_unknown_ids(service: Service) -> None:
    with api(service, "lim-404") as client:
        broken = client.post(
            "/api/llmrelay/limits", content=b"{", headers={"content-type": "application/json"}
        )
        missing = [
            client.request(method, "/api/llmrelay/limits/nope", json=BODY)
            for method in ("GET", "PUT", "DELETE")
        ]
    assert broken.status_code == 400
    for response in missing:
        assert response.status_code == 404, response.text
        assert response.json() == {
            "statusCode": 404,
            "error": "Not Found",
            "message": "Limit [nope] not found",
        }


def test_only_admins(service: Service) -> None:
    created = create_limit(service, "lim-roles", BODY)
    for role in ("connectors_all", "connectors_read", "usage_read"):
        headers = service.api_key([role], ["*"])
        with api(service, "lim-roles", headers) as client:
            answers = {
                "get": client.get("/api/llmrelay/limits"),
                "create": client.post("/api/llmrelay/limits", json=BODY),
                "update": client.put(f"/api/llmrelay/limits/{created['id']}", json=BODY),
                "delete": client.delete(f"/api/llmrelay/limits/{created['id']}"),
            }
        for operation, response in answers.items():
            assert response.status_code == 403, (role, operation, response.text)
            assert response.json() == {
                "statusCode": 403,
                "error": "Forbidden",
                "message": f"Unauthorized to {operation} limits",
            }
    admin_elsewhere = service.api_key(["admin"], ["lim-roles-other"])
    with api(service, "lim-roles", admin_elsewhere) as client:
        assert client.get("/api/llmrelay/limits").status_code == 403
    with service.client() as anonymous:
        assert anonymous.get("/s/lim-roles/api/llmrelay/limits").status_code == 401
    with api(service, "lim-roles") as client:
        assert client.get(f"/api/llmrelay/limits/{created['id']}").status_code == 200


def test_mutations_need_kbn_xsrf(service: Service) -> None:
    with service.client(service.admin, base="/s/lim-xsrf") as client:
        response = client.post("/api/llmrelay/limits", json=BODY)
    assert response.status_code == 400
    assert response.json()["message"] == "Request must contain a kbn-xsrf header."
