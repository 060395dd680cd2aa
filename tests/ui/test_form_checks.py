"""The connector form checks what it can in the browser, with the server's rules: every
problem at once, each at its field and marked invalid, in plain words with the fix; what
only the server knows lands at its field too, reworded. Save & test, Cancel on edit, the
prompt before leaving unsaved changes, OpenAI's URL filled in, non-PEM files refused."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, Request, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import create_connector, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def record_saves(page: Page) -> list[str]:
    saves: list[str] = []

    def record(request: Request) -> None:
        if request.method in ("POST", "PUT") and "/api/actions/connector" in request.url:
            saves.append(request.url)

    page.on("request", record)
    return saves


async def invalid_fields(page: Page) -> list[str]:
    ids: list[str] = await page.locator(
        '#connector-form [aria-invalid="true"]:not(.header-key):not(.header-value)'
    ).evaluate_all("(nodes) => nodes.map((n) => n.id)")
    return ids


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_every_problem_at_once_in_plain_words(
    ui: Service, page: Page, viewport: dict[str, int], take_screenshots: bool
) -> None:
    await page.set_viewport_size(viewport)
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    saves = record_saves(page)
    url = page.get_by_label("URL")
    await expect(url).to_have_value(OPENAI_URL)  # filled, not only a placeholder

    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#name-error")).to_have_text("Name is required.")
    await expect(page.locator("#apiKey-error")).to_have_text("API key is required for OpenAI.")
    assert await invalid_fields(page) == ["name", "apiKey"]
    await expect(page.get_by_label("Name")).to_be_focused()

    # Other: the prefilled OpenAI URL goes; URL, model and key are all reported
    await page.get_by_label("OpenAI provider").select_option("Other")
    await expect(url).to_have_value("")
    await page.get_by_label("Name").fill("Local")
    await url.fill("localhost:1234/v1/chat/completions")
    await page.get_by_role("checkbox", name="Use a client certificate (PKI)").check()
    await page.get_by_label("…or paste the certificate PEM").fill("not a certificate")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#apiUrl-error")).to_have_text(
        "The URL needs a scheme: did you mean https://localhost:1234/v1/chat/completions?"
    )
    await expect(page.locator("#defaultModel-error")).to_have_text(
        "Default model is required for Other (OpenAI-compatible service)."
    )
    await expect(page.locator("#certificateData-error")).to_have_text(
        "The certificate must be PEM text beginning with -----BEGIN CERTIFICATE-----."
    )
    await expect(page.locator("#privateKeyData-error")).to_have_text(
        "Private key is required for a client certificate (PKI)."
    )
    await expect(page.locator("#apiKey-error")).to_be_hidden()  # PKI instead of a key
    assert await invalid_fields(page) == [
        "apiUrl",
        "defaultModel",
        "certificateData",
        "privateKeyData",
    ]
    await expect(url).to_be_focused()
    for field in ("apiUrl", "defaultModel", "certificateData", "privateKeyData"):
        described = await page.locator(f"#{field}").get_attribute("aria-describedby")
        assert described and f"{field}-error" in described
    if viewport == DESKTOP:
        await screenshot(page, "connector-form-errors", take_screenshots)
    assert saves == []


async def test_a_non_pem_file_is_refused(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    await page.get_by_role("checkbox", name="Use a client certificate (PKI)").check()
    picker = page.get_by_label("Certificate file", exact=True)
    der = bytes([0x30, 0x82, 0x01, 0x0A, 0x02, 0x82, 0x00, 0xFF, 0x00, 0x10])
    await picker.set_input_files(
        files=[{"name": "client.der", "mimeType": "application/octet-stream", "buffer": der}]
    )
    error = page.locator("#certificateData-error")
    await expect(error).to_contain_text('"client.der" is not a PEM certificate')
    await expect(picker).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("…or paste the certificate PEM")).to_have_value("")


async def test_what_only_the_server_knows_lands_at_its_field_reworded(
    ui: Service, page: Page
) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    # an older page script, say: nothing is checked in the browser
    await page.evaluate("window.LlmrelayFormChecks.check = () => ({})")
    await page.get_by_label("Name").fill("Server says")
    await page.get_by_label("OpenAI provider").select_option("Other")
    await page.get_by_label("URL").fill("http://localhost:1234/v1/chat/completions")
    await page.get_by_label("API key").fill("k")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#defaultModel-error")).to_have_text(
        "Default model is required for Other (OpenAI-compatible service)."
    )
    await expect(page.get_by_label("Default model")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("Default model").fill("m")
    await page.get_by_label("URL").fill("ftp://example.com/x")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#apiUrl-error")).to_have_text(
        "The URL must start with https:// or http://."
    )
    await expect(page.locator("#defaultModel-error")).to_be_hidden()


async def test_save_and_test_opens_the_test_tab(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    save = page.get_by_role("button", name="Save connector")
    save_test = page.get_by_role("button", name="Save & test")
    # beside Save
    save_box, test_box = await save.bounding_box(), await save_test.bounding_box()
    assert save_box and test_box and abs(save_box["y"] - test_box["y"]) < 4
    await page.get_by_label("Name").fill("Saved then tested")
    await page.get_by_label("API key").fill("sk-save-test")
    await save_test.click()
    await expect(page.get_by_role("heading", name="Saved then tested")).to_be_visible()
    await expect(page.get_by_role("tab", name="Test")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_label("Body")).to_be_visible()


async def test_cancel_and_leaving_unsaved_changes(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        ui, "Unsaved changes", {"apiProvider": "OpenAI", "apiUrl": upstream.url()}, "sk-u"
    )
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    name = page.get_by_label("Name")
    await expect(name).to_have_value("Unsaved changes")
    await name.fill("Changed but not saved")
    await page.get_by_role("button", name="Cancel").click()
    await expect(name).to_have_value("Unsaved changes")

    # a clean form leaves without asking; a dirty one asks, and staying keeps the edit
    await name.fill("Changed again")
    dialogs: list[str] = []

    async def stay(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        await dialog.dismiss()

    page.once("dialog", stay)
    await page.get_by_role("link", name="Connectors", exact=True).first.click(no_wait_after=True)
    await page.wait_for_function("document.readyState === 'complete'")
    for _ in range(100):
        if dialogs:
            break
        await page.wait_for_timeout(50)
    assert dialogs == ["beforeunload"]
    await expect(name).to_have_value("Changed again")

    async def leave(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        await dialog.accept()

    page.once("dialog", leave)
    await page.get_by_role("link", name="Connectors", exact=True).first.click()
    await expect(page).to_have_url(f"{ui.url}/app/connectors")
    assert dialogs == ["beforeunload", "beforeunload"]
