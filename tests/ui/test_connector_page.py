"""A connector's page: its executions (latest first, paged, filterable by outcome) and, for
a preconfigured connector, its settings without secrets; the list shows them too."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import (
    HIDDEN_PRECONFIGURED_ID,
    VIEWER,
    create_connector,
    execute_run,
    sign_in,
    wait_executions,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
FAILURE = "an error occurred while running the action: Status code: 500."


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    wide = await page.evaluate(
        """() => Array.from(document.querySelectorAll("body *"))
            .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    assert viewport and width <= viewport["width"], (width, viewport, wide)


@pytest.fixture
def key_headers(ui: Service) -> dict[str, str]:
    return ui.api_key(["connectors_read"])


async def test_executions_latest_first_paged_and_filtered(
    ui: Service,
    page: Page,
    upstream: FakeUpstream,
    key_headers: dict[str, str],
    take_screenshots: bool,
) -> None:
    connector_id = create_connector(
        ui, "With executions", {"apiProvider": "OpenAI", "apiUrl": upstream.url()}, "sk-ex"
    )
    with ui.client(ui.admin) as client:
        for n in range(20):
            execute_run(client, connector_id, f"hello {n}")
    upstream.fail(500, "upstream broke")
    with ui.client(key_headers) as client:
        assert execute_run(client, connector_id, "fails")["status"] == "error"
    wait_executions(ui, connector_id, 21)

    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await page.get_by_role("tab", name="Executions").click()
    rows = page.locator("#executions-body tr")
    await expect(rows).to_have_count(20)
    await expect(page.locator("#executions-count")).to_have_text("21 executions")
    await expect(page.locator("#executions-page")).to_have_text("Page 1 of 2")
    latest = rows.first
    await expect(latest.locator('[data-label="Outcome"]')).to_have_text("failure")
    await expect(latest.locator('[data-label="User or API key"]')).to_have_text("API key test")
    await expect(latest.locator('[data-label="Message"]')).to_contain_text(FAILURE)
    await expect(latest.locator('[data-label="Sub-action / endpoint"]')).to_have_text("run")
    await expect(latest.locator('[data-label="Time"]')).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    second = rows.nth(1)
    await expect(second.locator('[data-label="Outcome"]')).to_have_text("success")
    await expect(second.locator('[data-label="User or API key"]')).to_have_text("admin")
    await expect(second.locator('[data-label="Tokens"]')).to_contain_text("prompt")
    await expect(second.locator('[data-label="Usage source"]')).to_have_text("response")
    await expect(second.locator('[data-label="Duration"]')).to_have_text(
        re.compile(r"^\d+(\.\d+)? m?s$")
    )
    await screenshot(page, "connector-executions", take_screenshots)

    await page.get_by_role("button", name="Older").click()
    await expect(rows).to_have_count(1)
    await expect(page.locator("#executions-page")).to_have_text("Page 2 of 2")
    await expect(page.get_by_role("button", name="Older")).to_be_disabled()

    await page.get_by_label("Outcome").select_option("failure")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#executions-count")).to_have_text("1 execution")
    await expect(rows.first.locator('[data-label="Outcome"]')).to_have_text("failure")
    await expect(page).to_have_url(
        f"{ui.url}/app/connectors/{connector_id}?tab=executions&outcome=failure"
    )

    # at phone width the table becomes stacked rows and nothing scrolls sideways
    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(rows).to_have_count(1)
    assert await page.locator("#executions-table thead").evaluate(
        "(head) => head.getBoundingClientRect().height === 0"
    )
    await no_sideways_scroll(page)
    if take_screenshots:
        await screenshot(page, "connector-executions-phone", True)


async def test_preconfigured_settings_without_secrets(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors")
    row = page.locator(f'#connectors-body tr[data-connector-id="{HIDDEN_PRECONFIGURED_ID}"]')
    await expect(row).to_contain_text("OpenAI")
    await expect(row).to_contain_text("/v1/chat/completions")
    await page.goto(f"{ui.url}/app/connectors/{HIDDEN_PRECONFIGURED_ID}")
    details = page.locator("#readonly-details")
    await expect(details).to_contain_text("OpenAI")
    await expect(details).to_contain_text("/v1/chat/completions")
    await expect(details).to_contain_text("gpt-4.1")  # the default model
    await expect(details).to_contain_text("X-Tenant")
    await expect(details).to_contain_text("temperature")
    content = await page.content()
    assert "header-value-not-shown" not in content and "pre-hidden-secret" not in content
    with ui.client(ui.admin) as client:
        raw = client.get("/api/llmrelay/preconfigured_connectors").text
        kibana = client.get(f"/api/actions/connector/{HIDDEN_PRECONFIGURED_ID}").json()
    assert "X-Tenant" in raw and "temperature" in raw
    assert "header-value-not-shown" not in raw and "pre-hidden-secret" not in raw
    assert "config" not in kibana  # Kibana's API still omits it without exposeConfig

    await page.set_viewport_size(PHONE)
    await no_sideways_scroll(page)


async def test_unexposed_settings_stay_hidden_from_readers(ui: Service, page: Page) -> None:
    await sign_in(page, ui, VIEWER)
    await page.goto(f"{ui.url}/app/connectors/{HIDDEN_PRECONFIGURED_ID}")
    await expect(page.locator("#readonly-details")).to_contain_text(
        "Not shown: the connector's definition does not set exposeConfig."
    )
    await expect(page.locator("#readonly-details")).not_to_contain_text("/v1/chat/completions")
