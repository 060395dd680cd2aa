"""UI test setup: one llmrelay service for all UI tests, a preconfigured connector, users."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from llmrelay.store import users as users_module
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import ADMIN_PASSWORD, Service, make_settings, start_service

ADMIN = ("admin", ADMIN_PASSWORD)
VIEWER = ("viewer", "viewer-password")  # connectors_read only: no usage_read
ANALYST = ("analyst", "analyst-password")  # connectors_read + usage_read
XSRF = {"kbn-xsrf": "true"}
PRECONFIGURED_ID = "local-llm"
HIDDEN_PRECONFIGURED_ID = "hidden-settings"  # no exposeConfig


@pytest.fixture(scope="package")
def fast_password_hashing() -> Iterator[None]:
    """Cheap scrypt parameters while the UI tests run: every login verifies a password, and
    the production cost (about a second each) would dominate the run. Hashing itself is
    tested in tests/store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users_module, "PASSWORD_PARAMS", users_module.ScryptParams(n=2**12))
        yield


@pytest.fixture(scope="package")
def ui(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
    fast_password_hashing: None,
) -> Iterator[Service]:
    pre = {
        PRECONFIGURED_ID: {
            "name": "Local LLM (preconfigured)",
            "actionTypeId": ".gen-ai",
            "config": {
                "apiProvider": "Other",
                "apiUrl": upstream_server.url(),
                "defaultModel": "local-model",
            },
            "secrets": {"apiKey": "pre-secret-value"},
            "exposeConfig": True,
        },
        HIDDEN_PRECONFIGURED_ID: {
            "name": "Hidden settings (preconfigured)",
            "actionTypeId": ".gen-ai",
            "config": {
                "apiProvider": "OpenAI",
                "apiUrl": upstream_server.url(),
                "headers": {"X-Tenant": "header-value-not-shown"},
                "temperature": 0.2,
            },
            "secrets": {"apiKey": "pre-hidden-secret"},
        },
    }
    settings = make_settings(tmp_path_factory.mktemp("ui"), **{"xpack.actions.preconfigured": pre})
    svc = start_service(settings)
    try:
        svc.user("viewer", ["connectors_read"])
        svc.user("analyst", ["connectors_read", "usage_read"])
        yield svc
    finally:
        svc.thread.stop()


def create_connector(svc: Service, name: str, config: dict[str, Any], api_key: str) -> str:
    """Create a connector through the API (Basic admin); returns its id."""
    body = {
        "name": name,
        "connector_type_id": ".gen-ai",
        "config": config,
        "secrets": {"apiKey": api_key},
    }
    with svc.client(svc.admin) as client:
        response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def execute_run(client: httpx.Client, connector_id: str, text: str) -> dict[str, Any]:
    body = '{"messages":[{"role":"user","content":"' + text + '"}]}'
    response = client.post(
        f"/api/actions/connector/{connector_id}/_execute",
        json={"params": {"subAction": "run", "subActionParams": {"body": body}}},
        headers=XSRF,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_executions(svc: Service, connector_id: str, count: int) -> dict[str, Any]:
    """Events are written off the request path: poll the usage API until all are counted."""
    deadline = time.monotonic() + 10
    with svc.client(svc.admin) as client:
        while True:
            usage: dict[str, Any] = client.get(
                f"/api/llmrelay/usage?start=now-1h&connector_id={connector_id}"
            ).json()
            if usage["totals"]["executions"] >= count or time.monotonic() > deadline:
                assert usage["totals"]["executions"] == count, usage
                return usage
            time.sleep(0.05)


_COOKIES: dict[tuple[str, str], str] = {}


def session_cookie(svc: Service, username: str, password: str) -> str:
    """Log in over HTTP once per service and user (password hashing is slow on purpose)."""
    key = (svc.url, username)
    if key not in _COOKIES:
        with httpx.Client(base_url=svc.url) as client:
            client.get("/login")
            response = client.post(
                "/login",
                data={
                    "username": username,
                    "password": password,
                    "csrf": client.cookies["llmrelay_login_csrf"],
                },
            )
            assert response.status_code == 303, response.text
            _COOKIES[key] = response.cookies["llmrelay_session"]
    return _COOKIES[key]


async def sign_in(page: Page, svc: Service, user: tuple[str, str] = ADMIN) -> None:
    """Give the page's browser context a session for ``user`` (without the login form)."""
    cookie = session_cookie(svc, *user)
    await page.context.add_cookies([{"name": "llmrelay_session", "value": cookie, "url": svc.url}])


async def no_sideways_scroll(page: Page) -> None:
    """The page is no wider than the viewport; names the elements that stick out."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = await page.evaluate("innerWidth")
    wide = await page.evaluate(
        """() => Array.from(document.querySelectorAll("body *"))
            .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    assert width <= viewport, (width, viewport, wide)
