"""Sessions, CSRF and page hardening over plain HTTP (no browser), and the API's
``keep_secrets`` option the edit form relies on."""

from __future__ import annotations

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.ui.conftest import ADMIN, XSRF, create_connector, execute_run, session_cookie


def logged_in(svc: Service) -> httpx.Client:
    client = httpx.Client(base_url=svc.url, timeout=30)
    client.cookies.set("llmrelay_session", session_cookie(svc, *ADMIN))
    return client


def login_token(client: httpx.Client) -> str:
    client.get("/login")
    return client.cookies["llmrelay_login_csrf"]


def test_login_form_rejects_bad_input_without_errors(ui: Service) -> None:
    with httpx.Client(base_url=ui.url) as client:
        no_token = client.post("/login", data={"username": "admin", "password": ADMIN[1]})
        token = login_token(client)
        garbage = client.post(
            "/login", content=b"\xff\xfe%%%", headers={"content-type": "text/plain"}
        )
        huge = client.post("/login", data={"username": "a" * 40_000, "csrf": token})
        empty = client.post("/login", data={"csrf": token})
    assert no_token.status_code == 400 and "expired" in no_token.text
    assert garbage.status_code == 400
    assert huge.status_code == 400
    assert empty.status_code == 401 and "Invalid username or password." in empty.text
    assert "llmrelay_session" not in empty.cookies


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/app/usage", "/app/usage"),
        ("//evil.example/x", "/app/connectors"),
        ("https://evil.example/", "/app/connectors"),
        ("/\\evil.example", "/app/connectors"),
    ],
)
def test_login_redirects_only_within_the_site(ui: Service, target: str, landing: str) -> None:
    with httpx.Client(base_url=ui.url) as client:
        token = login_token(client)
        response = client.post(
            "/login",
            data={"username": ADMIN[0], "password": ADMIN[1], "csrf": token, "next": target},
        )
    assert response.status_code == 303
    assert response.headers["location"] == landing


def test_pages_need_a_valid_session(ui: Service) -> None:
    with logged_in(ui) as client:
        ok = client.get("/app/connectors")
        cookie = client.cookies["llmrelay_session"]
    assert ok.status_code == 200
    assert "default-src 'self'" in ok.headers["content-security-policy"]
    assert ok.headers["x-frame-options"] == "DENY"
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    for value in (tampered, "garbage", "a.b.c.d", "x" * 5000):
        with httpx.Client(base_url=ui.url, cookies={"llmrelay_session": value}) as client:
            page = client.get("/app/connectors")
            api = client.get("/api/actions/connectors")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert api.status_code == 401
        assert "www-authenticate" not in api.headers  # no browser Basic prompt


def test_logout_revokes_the_session(ui: Service) -> None:
    with httpx.Client(base_url=ui.url) as client:
        token = login_token(client)
        client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf": token})
        cookie = client.cookies["llmrelay_session"]
        page = client.get("/app/connectors")
        csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        forged = client.post("/logout", data={"csrf": "wrong"})
        assert client.get("/api/actions/connectors").status_code == 200
        out = client.post("/logout", data={"csrf": csrf})
    assert forged.status_code == 303 and out.status_code == 303
    assert out.headers["location"] == "/login?logged_out=1"
    with httpx.Client(base_url=ui.url, cookies={"llmrelay_session": cookie}) as client:
        assert client.get("/api/actions/connectors").status_code == 401


def test_space_names_are_escaped_and_switching_is_checked(ui: Service) -> None:
    body = {
        "name": "In team-a",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1/chat/completions"},
        "secrets": {"apiKey": "sk-team-a"},
    }
    with ui.client(ui.admin) as client:  # a connector makes the space exist
        client.post("/s/team-a/api/actions/connector", json=body, headers={"kbn-xsrf": "1"})
    with logged_in(ui) as client:
        page = client.get("/s/%3Cscript%3Ealert(1)%22/app/connectors")
        switch = client.get("/app/space?space=team-a&to=usage")
        bad = client.get("/app/space?space=../../etc")
        injected = client.get("/app/space?space=%3Cscript%3Ealert(1)")
        static = client.get("/ui/static/app.js")
    assert page.status_code == 200 and "<script>alert(1)" not in page.text
    assert switch.headers["location"] == "/s/team-a/app/usage"
    assert bad.status_code == 200 and '"../../etc" is not a space ID' in bad.text
    assert "<script>alert(1)" not in injected.text
    assert static.status_code == 200 and "javascript" in static.headers["content-type"]


def test_keep_secrets_option(ui: Service, upstream: FakeUpstream) -> None:
    config = {"apiProvider": "OpenAI", "apiUrl": upstream.url()}
    connector_id = create_connector(ui, "Keep me", config, "sk-keep-original")
    path = f"/api/actions/connector/{connector_id}"
    with ui.client(ui.admin) as client:
        bad = client.put(f"{path}?keep_secrets=yes", json={"name": "x", "config": config})
        kept = client.put(
            f"{path}?keep_secrets=true",
            json={"name": "Kept", "config": config, "secrets": {"apiKey": ""}},
            headers=XSRF,
        )
        assert execute_run(client, connector_id, "hello")["status"] == "ok"
        assert upstream.last_request.headers["authorization"] == "Bearer sk-keep-original"
        removed = client.put(
            f"{path}?keep_secrets=true",
            json={"name": "Kept", "config": config, "secrets": {"apiKey": None}},
            headers=XSRF,
        )
        replaced = client.put(
            path, json={"name": "Plain", "config": config, "secrets": {}}, headers=XSRF
        )
        missing = client.put(
            "/api/actions/connector/nope?keep_secrets=true",
            json={"name": "x", "config": config, "secrets": {}},
            headers=XSRF,
        )
    assert bad.status_code == 400
    assert kept.status_code == 200 and "sk-keep-original" not in kept.text
    assert removed.status_code == 400 and "apiKey" in removed.json()["message"]
    assert replaced.status_code == 400  # without the option, Kibana's rule: re-enter secrets
    assert missing.status_code == 404
