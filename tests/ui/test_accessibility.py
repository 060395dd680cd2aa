"""Every page at 1280 and 390 px: no serious or critical axe-core violations, no sideways
scrolling, and a clearly visible focus indicator on every control reached with Tab."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.axe import assert_accessible
from tests.fixtures.service import Service
from tests.ui.conftest import (
    PRECONFIGURED_ID,
    XSRF,
    create_connector,
    no_sideways_scroll,
    sign_in,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])


@pytest.fixture
def connector_id(ui: Service, upstream: FakeUpstream) -> str:
    return create_connector(
        ui, "Accessible", {"apiProvider": "OpenAI", "apiUrl": upstream.url()}, "sk-a11y"
    )


@pytest.fixture
def route_id(ui: Service, connector_id: str) -> str:
    body = {
        "name": "Accessible route",
        "connector_type_id": ".llmrelay-route",
        "config": {"targets": [{"connectorId": connector_id, "weight": 1}]},
    }
    with ui.client(ui.admin) as client:
        response = client.post("/api/actions/connector", json=body, headers=XSRF)
    assert response.status_code == 200, response.text
    route: str = response.json()["id"]
    return route


async def check(page: Page) -> None:
    await page.wait_for_load_state("networkidle")
    await assert_accessible(page)
    await no_sideways_scroll(page)


@VIEWPORTS
async def test_every_page(
    ui: Service, page: Page, connector_id: str, route_id: str, viewport: dict[str, int]
) -> None:
    await page.set_viewport_size(viewport)
    await page.goto(f"{ui.url}/login")
    await check(page)
    await sign_in(page, ui)
    for path in (
        "/app/connectors",
        "/app/connectors/new",
        "/app/connectors/new?type=.gen-ai",
        f"/app/connectors/{connector_id}",
        f"/app/connectors/{connector_id}?tab=test",
        f"/app/connectors/{connector_id}?tab=executions",
        f"/app/connectors/{PRECONFIGURED_ID}",
        "/app/connectors/new?type=.llmrelay-route",
        f"/app/routes/{route_id}",
        f"/app/routes/{route_id}?tab=attempts",
        "/app/usage",
        "/app/api-keys",
        "/app/users",
        "/app/space?space=not-there",
    ):
        await page.goto(f"{ui.url}{path}")
        await check(page)
    # with errors shown and PKI open
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    await page.get_by_role("checkbox", name="Use a client certificate (PKI)").check()
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#name-error")).to_be_visible()
    await check(page)


async def test_focus_is_visible_on_every_control(
    ui: Service, page: Page, connector_id: str
) -> None:
    await sign_in(page, ui)
    for path in (
        "/app/connectors/new?type=.gen-ai",
        f"/app/connectors/{connector_id}?tab=test",
        "/app/usage",
    ):
        await page.goto(f"{ui.url}{path}")
        await page.wait_for_load_state("networkidle")
        seen = 0
        for _ in range(60):
            await page.keyboard.press("Tab")
            focus = await page.evaluate(
                """() => {
                    const el = document.activeElement;
                    if (!el || el === document.body) return null;
                    const style = getComputedStyle(el);
                    return { tag: el.tagName, id: el.id, type: el.type || "",
                             outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                             color: style.outlineColor };
                }"""
            )
            if focus is None:
                break
            seen += 1
            assert focus["outline"] != "none" and focus["width"] >= 2, (path, focus)
            assert focus["color"] == "rgb(0, 119, 204)", (path, focus)  # --focus, 4.6:1 on white
        assert seen >= 5, path
