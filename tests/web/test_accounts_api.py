"""Users and API keys over HTTP (``/api/llmrelay/users``, ``/api/llmrelay/api_keys``): only
an admin of all spaces may use them; a new key is returned once and works at once; a
revoked key, a deleted user and changed roles take effect at once."""

from __future__ import annotations

import pytest

from tests.fixtures.service import Service, basic

XSRF = {"kbn-xsrf": "true"}
ADMIN_ONLY = "Forbidden: managing users and API keys needs the admin role in all spaces (*)"


def test_only_an_admin_of_all_spaces_manages_accounts(service: Service) -> None:
    space_admin = service.api_key(["admin"], ["team-a"])
    reader = service.api_key(["connectors_read"])
    for headers in (space_admin, reader):
        with service.client(headers) as client:
            for method, path in (
                ("GET", "/api/llmrelay/users"),
                ("GET", "/api/llmrelay/api_keys"),
                ("POST", "/api/llmrelay/api_keys"),
                ("DELETE", "/api/llmrelay/users/admin"),
            ):
                response = client.request(method, path, headers=XSRF, json={})
                assert response.status_code == 403, (method, path)
                assert response.json()["message"] == ADMIN_ONLY
    with service.client() as client:
        assert client.get("/api/llmrelay/users").status_code == 401


def test_api_keys_created_once_listed_and_revoked(service: Service) -> None:
    with service.client(service.admin) as client:
        created = client.post(
            "/api/llmrelay/api_keys",
            json={"name": "ci-pipeline", "roles": ["connectors_read"], "spaces": ["team-b"]},
            headers=XSRF,
        )
        assert created.status_code == 200, created.text
        key = created.json()
        listed = client.get("/api/llmrelay/api_keys").json()
    assert key["grants"] == [{"role": "connectors_read", "space": "team-b"}]
    credential = key.pop("api_key")
    assert [k for k in listed if k["id"] == key["id"]] == [key]  # never the credential again
    assert credential not in str(listed)
    auth = {"Authorization": f"ApiKey {credential}"}
    with service.client(auth) as client:
        assert client.get("/s/team-b/api/actions/connectors").status_code == 200
        assert client.get("/api/actions/connectors").status_code == 403
    with service.client(service.admin) as client:
        revoked = client.delete(f"/api/llmrelay/api_keys/{key['id']}", headers=XSRF)
        again = client.delete(f"/api/llmrelay/api_keys/{key['id']}", headers=XSRF)
    assert revoked.status_code == 204 and again.status_code == 404
    with service.client(auth) as client:
        assert client.get("/s/team-b/api/actions/connectors").status_code == 401


def test_users_created_with_roles_changed_reset_and_deleted(service: Service) -> None:
    with service.client(service.admin) as client:
        created = client.post(
            "/api/llmrelay/users",
            json={"name": "dana", "password": "first-pass", "roles": ["usage_read"]},
            headers=XSRF,
        )
        assert created.status_code == 200, created.text
        assert created.json()["grants"] == [{"role": "usage_read", "space": "*"}]
        assert "first-pass" not in created.text
        duplicate = client.post(
            "/api/llmrelay/users",
            json={"name": "dana", "password": "x", "roles": ["usage_read"]},
            headers=XSRF,
        )
        assert duplicate.status_code == 409
        roles = client.put(
            "/api/llmrelay/users/dana/roles",
            json={"roles": ["connectors_read"], "spaces": ["team-c"]},
            headers=XSRF,
        )
        assert roles.json()["grants"] == [{"role": "connectors_read", "space": "team-c"}]
        reset = client.put(
            "/api/llmrelay/users/dana/password", json={"password": "second-pass"}, headers=XSRF
        )
        assert reset.status_code == 204
    with service.client(basic("dana", "first-pass")) as client:
        assert client.get("/s/team-c/api/actions/connectors").status_code == 401
    with service.client(basic("dana", "second-pass")) as client:
        assert client.get("/s/team-c/api/actions/connectors").status_code == 200
        assert client.get("/api/llmrelay/usage").status_code == 403  # usage_read is gone
    with service.client(service.admin) as client:
        assert client.delete("/api/llmrelay/users/dana", headers=XSRF).status_code == 204
        gone = client.delete("/api/llmrelay/users/dana", headers=XSRF)
    assert gone.status_code == 404
    with service.client(basic("dana", "second-pass")) as client:
        assert client.get("/s/team-c/api/actions/connectors").status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": "p", "roles": ["admin"]}, "[name]: must be a non-empty string"),
        ({"name": " x", "password": "p", "roles": ["admin"]}, "[name]: must not start or end"),
        ({"name": "x", "roles": ["admin"]}, "[password]: must be a non-empty string"),
        ({"name": "x", "password": "p", "roles": []}, "[roles]: expected a non-empty list"),
        ({"name": "x", "password": "p", "roles": ["root"]}, "[roles]: unknown role root; known"),
        ({"name": "x", "password": "p", "roles": ["admin"], "spaces": "*"}, "[spaces]: expected"),
    ],
)
def test_bad_input_names_the_field(service: Service, body: dict[str, object], message: str) -> None:
    with service.client(service.admin) as client:
        response = client.post("/api/llmrelay/users", json=body, headers=XSRF)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
