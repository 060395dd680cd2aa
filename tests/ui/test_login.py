"""Log in, bad credentials, log out, and the session's cookie and CSRF rules."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_log_in_and_out(ui: Service, page: Page, take_screenshots: bool) -> None:
    await page.goto(f"{ui.url}/app/connectors")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fapp%2Fconnectors$"))
    await expect(page.get_by_role("heading", name="Log in to llmrelay")).to_be_visible()
    await expect(page.get_by_label("Username")).to_be_focused()
    await screenshot(page, "login", take_screenshots)

    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    await expect(page.get_by_label("Username")).to_have_value("admin")

    await page.get_by_label("Password").fill(ADMIN[1])
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{ui.url}/app/connectors")
    await expect(page.get_by_role("heading", name="Connectors", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Create connector")).to_be_visible()

    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["llmrelay_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert session["secure"] is False  # plain HTTP here; Secure is set over TLS
    assert ADMIN[1] not in session["value"]

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("status").first).to_have_text("You have logged out.")
    await page.goto(f"{ui.url}/app/usage")
    await expect(page).to_have_url(re.compile(r"/login\?next="))


async def test_unknown_user_gets_the_same_message(ui: Service, page: Page) -> None:
    await page.goto(f"{ui.url}/login")
    await page.get_by_label("Username").fill("nobody")
    await page.get_by_label("Password").fill(ADMIN[1])
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")


async def test_session_calls_the_api_with_csrf(ui: Service, page: Page) -> None:
    await log_in(page, ui.url, *ADMIN)
    listed = await page.request.get(f"{ui.url}/api/actions/connectors")
    assert listed.status == 200
    body = {"name": "x", "connector_type_id": ".gen-ai", "config": {}, "secrets": {}}
    forged = await page.request.post(
        f"{ui.url}/api/actions/connector", data=body, headers={"kbn-xsrf": "true"}
    )
    assert forged.status == 403
    assert "CSRF" in (await forged.json())["message"]
    assert "www-authenticate" not in forged.headers
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    accepted = await page.request.post(
        f"{ui.url}/api/actions/connector", data=body, headers={"x-csrf-token": token}
    )
    assert accepted.status == 400  # past authentication and CSRF, into validation
