"""The admin pages: API keys (create with roles and spaces, the key shown once with a copy
button, list, revoke) and users (create, roles, reset password, delete); only for admins
of all spaces; usable at phone width."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import VIEWER, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("innerWidth"), width


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_api_keys_page(
    ui: Service,
    page: Page,
    browser_context: BrowserContext,
    viewport: dict[str, int],
    take_screenshots: bool,
) -> None:
    await browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.set_viewport_size(viewport)
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors")
    await page.get_by_role("link", name="API keys").click()
    await expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    name = f"reporting-{viewport['width']}"

    # every problem at once, at its field
    await page.get_by_label("Spaces").fill("Team A")
    await page.get_by_label("connectors_read").uncheck()
    await page.get_by_role("button", name="Create API key").click()
    await expect(page.locator("#key-name-error")).to_have_text(
        "Name is required: say which application uses the key."
    )
    await expect(page.locator("#key-roles-error")).to_have_text("Choose at least one role.")
    await expect(page.locator("#key-spaces-error")).to_contain_text('"Team A" is not a space ID')
    await expect(page.get_by_label("Name")).to_be_focused()

    await page.get_by_label("Name").fill(name)
    await page.get_by_label("usage_read").check()
    await page.get_by_label("Spaces").fill("team-a, team-b")
    await page.get_by_role("button", name="Create API key").click()
    shown = page.get_by_label("The new API key")
    await expect(shown).to_have_value(re.compile(r"^[A-Za-z0-9+/=]{40,}$"))
    credential = await shown.input_value()
    await expect(page.get_by_text("it is not shown again")).to_be_visible()
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == credential

    row = page.locator("#keys-body tr").filter(has_text=name)
    await expect(row).to_contain_text("usage_read (team-a, team-b)")
    assert credential not in await row.inner_text()
    if viewport == DESKTOP:
        await screenshot(page, "api-keys", take_screenshots)
    else:
        await no_sideways_scroll(page)

    auth = {"Authorization": f"ApiKey {credential}"}
    async with httpx.AsyncClient(base_url=ui.url) as client:
        assert (await client.get("/s/team-a/api/llmrelay/usage", headers=auth)).status_code == 200

    await row.get_by_role("button", name=f"Revoke API key {name}").click()
    dialog = page.get_by_role("dialog", name="Revoke API key?")
    await dialog.get_by_role("button", name="Revoke API key").click()
    await expect(dialog).to_be_hidden()
    await expect(row).to_have_count(0)
    async with httpx.AsyncClient(base_url=ui.url) as client:
        assert (await client.get("/s/team-a/api/llmrelay/usage", headers=auth)).status_code == 401


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_users_page(
    ui: Service, page: Page, viewport: dict[str, int], take_screenshots: bool
) -> None:
    await page.set_viewport_size(viewport)
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/users")
    user = f"erin{viewport['width']}"
    await page.get_by_label("User name").fill(user)
    await page.get_by_role("button", name="Create user").click()
    await expect(page.locator("#user-password-error")).to_have_text("Password is required.")
    await page.get_by_label("Password", exact=True).fill("erin-first")
    await page.get_by_role("button", name="Create user").click()
    row = page.locator(f'#users-body tr[data-user="{user}"]')
    await expect(row).to_contain_text("connectors_read (all spaces)")

    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password", exact=True).fill("again")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.locator("#user-name-error")).to_have_text(
        f"A user named {user} already exists."
    )

    await row.get_by_role("button", name=f"Change the roles of {user}").click()
    dialog = page.get_by_role("dialog", name=f"Roles of {user}")
    await dialog.get_by_label("usage_read").check()
    await dialog.get_by_label("Spaces").fill("team-z")
    await dialog.get_by_role("button", name="Save roles").click()
    await expect(dialog).to_be_hidden()
    await expect(row).to_contain_text("connectors_read (team-z); usage_read (team-z)")

    await row.get_by_role("button", name=f"Reset the password of {user}").click()
    dialog = page.get_by_role("dialog", name=f"New password for {user}")
    await dialog.get_by_label("New password").fill("erin-second")
    await dialog.get_by_role("button", name="Set password").click()
    await expect(dialog).to_be_hidden()
    async with httpx.AsyncClient(base_url=ui.url) as client:
        ok = await client.get("/s/team-z/api/actions/connectors", auth=(user, "erin-second"))
        assert ok.status_code == 200

    if viewport == DESKTOP:
        await screenshot(page, "users", take_screenshots)
    else:
        await no_sideways_scroll(page)
    # no Delete for yourself
    await expect(
        page.locator('#users-body tr[data-user="admin"]').get_by_role("button", name="Delete")
    ).to_have_count(0)
    await row.get_by_role("button", name=f"Delete user {user}").click()
    dialog = page.get_by_role("dialog", name="Delete user?")
    await dialog.get_by_role("button", name="Delete user").click()
    await expect(row).to_have_count(0)


async def test_admin_pages_are_for_admins_only(ui: Service, page: Page) -> None:
    await sign_in(page, ui, VIEWER)
    await page.goto(f"{ui.url}/app/connectors")
    await expect(page.get_by_role("link", name="Users")).to_have_count(0)
    await page.goto(f"{ui.url}/app/api-keys")
    await expect(page.locator("#permission-note")).to_contain_text("admin role in all spaces")
    await expect(page.locator("#create-key-form")).to_have_count(0)
