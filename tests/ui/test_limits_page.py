"""The Limits page (admins): list with current use as bars, create (a 400 shown in the
form), edit, delete; non-admins see a permission note and no nav link."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import ANALYST, XSRF, execute_run, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_see_use_edit_delete(ui: Service, page: Page, take_screenshots: bool) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors")
    await page.get_by_role("link", name="Limits").click()
    await expect(page.get_by_role("heading", name="Limits", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name="No limits yet")).to_be_visible()

    await page.get_by_role("button", name="Create limit").click()
    await page.get_by_label("Name").fill("local model")
    await page.get_by_label("Applies to").select_option("connector")
    await page.get_by_label("Connector id").fill("local-llm")
    await page.get_by_role("button", name="Save limit").click()
    await expect(page.get_by_role("alert")).to_contain_text("At least one of requests_per_minute")

    await page.get_by_label("Requests per minute").fill("100")
    await page.get_by_label("Tokens per day").fill("5000")
    await page.get_by_role("button", name="Save limit").click()
    row = page.get_by_role("row", name="local model")
    await expect(row).to_contain_text("Connector local-llm")
    await expect(row).to_contain_text("0 of 100 requests this minute")

    with ui.client(ui.admin) as client:
        result = execute_run(client, "local-llm", "hello limits page")
    tokens = result["data"]["usage"]["total_tokens"]
    await page.reload()
    row = page.get_by_role("row", name="local model")
    await expect(row).to_contain_text("1 of 100 requests this minute")
    await expect(row).to_contain_text(f"{tokens} of 5,000 tokens today")
    bar = row.get_by_role("meter", name=f"{tokens} of 5,000 tokens today")
    await expect(bar).to_have_attribute("value", str(tokens))
    await screenshot(page, "limits", take_screenshots)

    await row.get_by_role("button", name="Edit local model").click()
    await expect(page.get_by_label("Tokens per day")).to_have_value("5000")
    await page.get_by_label("Tokens per day").fill("")
    await page.get_by_label("USD per month").fill("12.5")
    await page.get_by_role("button", name="Save limit").click()
    row = page.get_by_role("row", name="local model")
    await expect(row).to_contain_text("USD this month")
    await expect(row).not_to_contain_text("tokens today")

    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Delete local model").click()
    await expect(page.get_by_role("heading", name="No limits yet")).to_be_visible()
    with ui.client(ui.admin) as client:
        assert client.get("/api/llmrelay/limits", headers=XSRF).json() == {"data": []}


async def test_not_for_non_admins(ui: Service, page: Page) -> None:
    await sign_in(page, ui, ANALYST)
    await page.goto(f"{ui.url}/app/connectors")
    await expect(page.get_by_role("link", name="Connectors")).to_be_visible()
    await expect(page.get_by_role("link", name="Limits")).to_have_count(0)
    await page.goto(f"{ui.url}/app/limits")
    await expect(
        page.get_by_role("heading", name="You need to be an administrator to manage limits")
    ).to_be_visible()
