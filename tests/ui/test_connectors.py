"""Connectors: list and filter, create one of each provider (Other with PKI files),
the Other-only Responses API setting, validation messages beside their field, edit keeping
the stored key, read-only preconfigured connectors, delete with confirmation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.helpers.pki import pkcs8_key_pem
from tests.ui.conftest import PRECONFIGURED_ID, create_connector, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def open_create_form(page: Page, svc: Service) -> None:
    await page.goto(f"{svc.url}/app/connectors")
    await page.get_by_role("button", name="Create connector").click()
    await page.get_by_role("button", name="OpenAI").click()
    await expect(page.get_by_role("heading", name="Create an OpenAI connector")).to_be_visible()


async def test_create_one_connector_of_each_provider(
    ui: Service,
    page: Page,
    mtls_upstream: FakeUpstream,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    tmp_path: Path,
    take_screenshots: bool,
) -> None:
    await sign_in(page, ui)
    url = page.get_by_label("URL")

    await open_create_form(page, ui)
    await expect(url).to_have_attribute("placeholder", "https://api.openai.com/v1/chat/completions")
    await page.get_by_label("Name").fill("Team OpenAI")
    await url.fill("https://api.openai.com/v1/chat/completions")
    await page.get_by_label("API key").fill("sk-ui-openai-secret")
    await page.get_by_role("button", name="Add header").click()
    await page.get_by_label("Header name").fill("X-Team")
    await page.get_by_label("Header value").fill("search")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.get_by_role("heading", name="Team OpenAI")).to_be_visible()
    await expect(page.get_by_label("Header name")).to_have_value("X-Team")
    await expect(page.get_by_label("API key")).to_have_value("")  # secrets never shown

    await open_create_form(page, ui)
    await page.get_by_label("OpenAI provider").select_option("Azure OpenAI")
    await expect(url).to_have_attribute(
        "placeholder",
        r"https://{your-resource-name}.openai.azure.com/openai/deployments/{deployment-id}/chat/completions?api-version={api-version}",
    )
    await page.get_by_label("Name").fill("Azure prod")
    await url.fill(
        "https://example.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01"
    )
    await page.get_by_label("API key").fill("azure-ui-secret")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.get_by_role("heading", name="Azure prod")).to_be_visible()

    cert = tmp_path / "client.crt"
    cert.write_bytes(client_cert.cert_chain_pems[0].bytes())
    key = tmp_path / "client.key"
    key.write_bytes(pkcs8_key_pem(client_cert))
    await open_create_form(page, ui)
    await page.get_by_label("OpenAI provider").select_option("Other")
    await expect(page.get_by_text("required unless PKI is used")).to_be_visible()
    await page.get_by_label("Name").fill("Local mTLS model")
    await url.fill(mtls_upstream.url())
    await page.get_by_label("Default model").fill("local-model")
    await page.get_by_label("Use a client certificate (PKI)").check()
    await page.get_by_label("Certificate file", exact=True).set_input_files(str(cert))
    await page.get_by_label("Private key file").set_input_files(str(key))
    await expect(page.get_by_label("…or paste the private key PEM")).to_have_value(
        pkcs8_key_pem(client_cert).decode()
    )
    await page.get_by_label("…or paste the CA certificate PEM").fill(ca.cert_pem.bytes().decode())
    verification = page.get_by_label("Verification mode")
    await verification.select_option("none")
    await expect(page.get_by_text("is not checked at all")).to_be_visible()
    await verification.select_option("full")
    await expect(page.get_by_text("is not checked at all")).to_be_hidden()
    await screenshot(page, "connector-form", take_screenshots)
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.get_by_role("heading", name="Local mTLS model")).to_be_visible()

    # the PEMs arrived intact: the connector completes a mutual-TLS handshake
    await page.get_by_role("tab", name="Test").click()
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("OK")
    assert mtls_upstream.last_request.path == "/v1/chat/completions"

    await page.goto(f"{ui.url}/app/connectors")
    rows = page.locator("#connectors-body tr")
    for name, provider in [
        ("Team OpenAI", "OpenAI"),
        ("Azure prod", "Azure OpenAI"),
        ("Local mTLS model", "Other"),
        ("Local LLM (preconfigured)", "Other"),
    ]:
        row = rows.filter(has_text=name)
        await expect(row).to_contain_text(provider)
    await expect(rows.filter(has_text="Team OpenAI")).to_contain_text("gpt-4.1")
    await expect(rows.filter(has_text="Local LLM")).to_contain_text("Preconfigured")
    await screenshot(page, "connectors", take_screenshots)
    await page.get_by_label("Filter connectors").fill("azure")
    await expect(rows.locator("visible=true")).to_have_count(1)
    # other UI tests share the service: count what this one sees, not what it made
    await expect(page.locator("#connector-count")).to_have_text(
        re.compile(r"^1 of \d+ connectors$")
    )
    content = await page.content()
    for secret in ("sk-ui-openai-secret", "azure-ui-secret", "pre-secret-value"):
        assert secret not in content


async def test_responses_api_setting_of_other_connectors(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await open_create_form(page, ui)
    setting = page.get_by_label("Responses API")
    await expect(setting).to_be_hidden()  # OpenAI: the setting is Other's alone
    await page.get_by_label("OpenAI provider").select_option("Other")
    await expect(setting).to_be_visible()
    await expect(setting).to_have_value("auto")  # the API's default when unset
    help_text = page.get_by_text("How requests to /v1/responses reach this server")
    await expect(help_text).to_be_visible()
    await page.get_by_label("Name").fill("Translated responses")
    await page.get_by_label("URL").fill("http://127.0.0.1:9/v1/chat/completions")
    await page.get_by_label("Default model").fill("local-model")
    await page.get_by_label("API key").fill("placeholder-key")
    await setting.select_option("translate")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.get_by_role("heading", name="Translated responses")).to_be_visible()
    connector_id = page.url.split("/app/connectors/")[1].split("?")[0]

    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await expect(page.get_by_label("Responses API")).to_have_value("translate")
    assert _stored_config(ui, connector_id)["responsesApi"] == "translate"

    # editing sends the chosen value; leaving Other drops the setting
    await page.get_by_label("Responses API").select_option("native")
    await _save_edit(page)
    assert _stored_config(ui, connector_id)["responsesApi"] == "native"
    await page.get_by_label("OpenAI provider").select_option("OpenAI")
    await expect(page.get_by_label("Responses API")).to_be_hidden()
    await page.get_by_label("API key").fill("sk-now-openai")
    await _save_edit(page)
    config = _stored_config(ui, connector_id)
    assert config["apiProvider"] == "OpenAI"
    assert "responsesApi" not in config


async def _save_edit(page: Page) -> None:
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Connector saved.")).to_be_visible()


def _stored_config(svc: Service, connector_id: str) -> dict[str, object]:
    """The connector's config as the API answers it."""
    with svc.client(svc.admin) as client:
        response = client.get(f"/api/actions/connector/{connector_id}")
    config: dict[str, object] = response.json()["config"]
    return config


async def test_validation_messages_beside_their_field(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await open_create_form(page, ui)
    await page.get_by_label("Name").fill("Broken")
    await page.get_by_label("OpenAI provider").select_option("Other")
    await page.get_by_label("URL").fill("http://localhost:1234/v1/chat/completions")
    await page.get_by_label("API key").fill("whatever")
    await page.get_by_role("button", name="Save connector").click()
    model_error = page.locator("#defaultModel-error")
    await expect(model_error).to_have_text(
        "Default model is required for Other (OpenAI-compatible service)."
    )
    await expect(page.get_by_label("Default model")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Default model")).to_be_focused()
    described = await page.get_by_label("Default model").get_attribute("aria-describedby")
    assert described and "defaultModel-error" in described

    await page.get_by_label("Default model").fill("local-model")
    await page.get_by_label("URL").fill("not a url")
    await page.get_by_role("button", name="Save connector").click()
    await expect(page.locator("#apiUrl-error")).to_have_text(
        "This is not a valid URL. Enter it as https://host/path."
    )
    await expect(model_error).to_be_hidden()
    await expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    await expect(page).to_have_url(f"{ui.url}/app/connectors/new?type=.gen-ai")


async def test_edit_keeps_the_stored_key(ui: Service, page: Page, upstream: FakeUpstream) -> None:
    connector_id = create_connector(
        ui,
        "Editable",
        {"apiProvider": "OpenAI", "apiUrl": upstream.url()},
        "sk-stored-key-123",
    )
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await expect(page.get_by_text("Leave empty to keep the stored API key")).to_be_visible()
    await page.get_by_label("Name").fill("Edited name")
    await page.get_by_label("Default model").fill("gpt-4o-mini")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Connector saved.")).to_be_visible()
    await expect(page.get_by_role("heading", name="Edited name")).to_be_visible()

    await page.get_by_role("tab", name="Test").click()
    await expect(page.get_by_label("Body")).to_have_value(
        '{\n  "model": "gpt-4o-mini",\n  "messages": [\n    {\n      "role": "user",\n'
        '      "content": "Hello world"\n    }\n  ]\n}'
    )
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("OK")
    assert upstream.last_request.headers["authorization"] == "Bearer sk-stored-key-123"

    await page.get_by_role("tab", name="Configuration").click()
    await page.get_by_label("API key").fill("sk-new-key-456")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Connector saved.")).to_be_visible()
    await page.get_by_role("tab", name="Test").click()
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("OK")
    assert upstream.last_request.headers["authorization"] == "Bearer sk-new-key-456"


async def test_preconfigured_is_read_only_and_delete_confirms(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{PRECONFIGURED_ID}")
    await expect(
        page.get_by_text("is preconfigured in the service's settings file")
    ).to_be_visible()
    await expect(page.locator("#connector-form")).to_have_count(0)
    await expect(page.get_by_role("button", name="Delete")).to_be_hidden()
    await expect(page.locator("#readonly-details")).to_contain_text("local-model")

    connector_id = create_connector(
        ui,
        "Short-lived",
        {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1/chat/completions"},
        "k",
    )
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete connector?")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("heading", name="Short-lived")).to_be_visible()
    await page.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete connector").click()
    await expect(page).to_have_url(f"{ui.url}/app/connectors")
    await expect(page.locator("#connectors-body")).not_to_contain_text("Short-lived")
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await expect(page.get_by_role("heading", name="Connector not found")).to_be_visible()
