"""Spaces: picking one that does not exist says so; an admin may create it on purpose."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import VIEWER, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


async def pick_other_space(page: Page, space: str) -> None:
    await page.locator(".space-other summary").click()
    await page.get_by_label("Space ID").fill(space)
    await page.get_by_role("button", name="Go").click()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_an_admin_creates_a_missing_space_on_purpose(
    ui: Service, page: Page, viewport: dict[str, int], take_screenshots: bool
) -> None:
    await page.set_viewport_size(viewport)
    space = f"brand-new-{viewport['width']}"
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors")
    await pick_other_space(page, space)
    await expect(
        page.get_by_role("heading", name=f'Space "{space}" does not exist')
    ).to_be_visible()
    await expect(page.get_by_role("link", name="default", exact=True)).to_be_visible()
    if viewport == DESKTOP:
        await screenshot(page, "space-missing", take_screenshots)
    await page.get_by_role("button", name=f"Create space {space}").click()
    await expect(page).to_have_url(f"{ui.url}/s/{space}/app/connectors?space_created=1")
    await page.goto(f"{ui.url}/app/connectors")
    await pick_other_space(page, space)
    await expect(page).to_have_url(f"{ui.url}/s/{space}/app/connectors")


async def test_a_reader_is_told_the_space_does_not_exist(ui: Service, page: Page) -> None:
    await sign_in(page, ui, VIEWER)
    await page.goto(f"{ui.url}/app/connectors")
    await pick_other_space(page, "no-such-space")
    await expect(
        page.get_by_role("heading", name='Space "no-such-space" does not exist')
    ).to_be_visible()
    await expect(page.get_by_role("button", name="Create space no-such-space")).to_have_count(0)
