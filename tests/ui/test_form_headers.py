"""Custom headers in the connector form: the server's header rule is checked in the browser
and shown at the headers field, with the server's wording; what the server refuses is
shown at the same place."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Request, expect

from llmrelay.domain.headers import RESERVED_HEADERS, name_problem, value_problem
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.ui.conftest import create_connector, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMES = [
    "",
    "X Y",
    " X",
    "X:",
    "X\x00A",
    "Ünïcode",
    "(comment)",
    "X-Team",
    "x!#$%&'*+-.^_`|~09az",
    "Hosting",
    "X" * 200,
    *RESERVED_HEADERS,
    *(name.upper() for name in RESERVED_HEADERS),
]
VALUES = ["plain", "a\tb", "déjà vu", "a\r\nb", "a\nb", "a\rb", "a\x00b", "\x1b[0m", "a\x7f"]


async def test_the_browser_rule_is_the_servers(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    in_browser = await page.evaluate(
        """([names, values]) => ({
            names: names.map((n) => window.LlmrelayHeaders.nameProblem(n)),
            values: values.map((v) => window.LlmrelayHeaders.valueProblem("X-A", v)),
        })""",
        [NAMES, VALUES],
    )
    assert in_browser["names"] == [name_problem(name) for name in NAMES]
    assert in_browser["values"] == [value_problem("X-A", value) for value in VALUES]


async def test_a_bad_header_is_shown_at_the_field_before_saving(ui: Service, page: Page) -> None:
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new?type=.gen-ai")
    saves: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/actions/connector"):
            saves.append(request.url)

    page.on("request", record)
    await page.get_by_label("Name").fill("Header checks")
    await page.get_by_label("URL").fill("https://api.openai.com/v1/chat/completions")
    await page.get_by_label("API key").fill("sk-ui-header-secret")
    await page.get_by_role("button", name="Add header").click()
    name = page.get_by_label("Header name")
    value = page.get_by_label("Header value")
    await value.fill("v")
    await page.get_by_role("button", name="Save connector").click()

    error = page.locator("#headers-error")
    await expect(error).to_have_text('Header name "" is empty.')
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_be_focused()
    described = await name.get_attribute("aria-describedby")
    assert described and "headers-error" in described

    # once a problem is shown, leaving the field checks again
    await name.fill("X Y")
    await value.focus()
    await expect(error).to_have_text('Header name "X Y" is not a valid HTTP token.')
    await name.fill("host")
    await value.focus()
    await expect(error).to_have_text(
        'Header name "host" is not allowed: the HTTP client sets it from apiUrl.'
    )
    await name.fill("X-Team")
    await value.focus()
    await expect(error).to_be_hidden()
    await expect(name).not_to_have_attribute("aria-invalid", "true")
    assert saves == []

    await page.get_by_role("button", name="Save connector").click()
    await expect(page.get_by_role("heading", name="Header checks")).to_be_visible()
    assert len(saves) == 1


async def test_what_the_server_refuses_is_shown_at_the_same_field(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        ui, "Server header rule", {"apiProvider": "OpenAI", "apiUrl": upstream.url()}, "sk-k"
    )
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await expect(page.get_by_role("heading", name="Server header rule")).to_be_visible()
    # an older page script, say: the browser lets the header through
    await page.evaluate("window.LlmrelayHeaders.nameProblem = () => null")
    await page.get_by_role("button", name="Add header").click()
    await page.get_by_label("Header name").fill("X Y")
    await page.get_by_label("Header value").fill("v")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#headers-error")).to_have_text(
        'Header name "X Y" is not a valid HTTP token.'
    )
    await expect(page.get_by_label("Header name")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-error")).to_be_hidden()
