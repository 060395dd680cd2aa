"""The Test tab: run against the fake upstream, stream token by token, show failures."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import create_connector, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

MESSAGES = [{"role": "user", "content": "Hello world"}]
DURATION = re.compile(r"^\d+ ms$")


async def test_run_shows_answer_and_tokens(
    ui: Service, page: Page, upstream: FakeUpstream, take_screenshots: bool
) -> None:
    connector_id = create_connector(
        ui,
        "Local test model",
        {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "llama-3.1-8b"},
        "local-key",
    )
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    await page.get_by_role("tab", name="Test").click()
    await expect(page).to_have_url(f"{ui.url}/app/connectors/{connector_id}?tab=test")
    body = json.loads(await page.get_by_label("Body").input_value())
    assert body == {"model": "llama-3.1-8b", "messages": MESSAGES}
    await page.get_by_role("button", name="Run").click()

    usage = FakeUpstream.usage_for(MESSAGES, FakeUpstream.reply_text(MESSAGES))
    await expect(page.locator("#result-status")).to_have_text("OK")
    await expect(page.locator("#result-source")).to_have_text("response")
    await expect(page.locator("#result-prompt")).to_have_text(str(usage["prompt_tokens"]))
    await expect(page.locator("#result-completion")).to_have_text(str(usage["completion_tokens"]))
    await expect(page.locator("#result-total")).to_have_text(str(usage["total_tokens"]))
    await expect(page.locator("#result-duration")).to_have_text(DURATION)
    await expect(page.locator("#result-json")).to_contain_text(
        json.dumps(FakeUpstream.reply_text(MESSAGES))
    )
    assert json.loads(upstream.last_request.body)["model"] == "llama-3.1-8b"
    await expect(page.locator("#test-result")).to_have_attribute("data-done", "true")
    await screenshot(page, "test-tab", take_screenshots)


async def test_stream_arrives_token_by_token(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        ui,
        "Streaming model",
        {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "local"},
        "local-key",
    )
    words = ["Once", " upon", " a", " time", " there", " was", " a", " relay."]
    upstream.stream(words, chunk_delay=0.15, usage=False)
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}?tab=test")
    await page.get_by_role("switch", name="Stream the response").check()
    await page.get_by_role("button", name="Run").click()
    output = page.locator("#result-stream")
    # partial: the first words are shown while the rest is still to come
    await expect(output).to_have_text(re.compile(r"^Once(?!.*relay\.)"))
    assert await page.locator("#test-result").get_attribute("data-done") is None
    await expect(output).to_have_text("".join(words))
    await expect(page.locator("#result-status")).to_have_text("OK")
    # no usage chunk in this stream: the event log says the numbers were estimated
    await expect(page.locator("#result-source")).to_have_text("estimated")
    await expect(page.locator("#result-completion")).not_to_have_text("–")
    request = json.loads(upstream.last_request.body)
    assert request["stream"] is True


async def test_failure_shows_message_and_service_message(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        ui,
        "Failing model",
        {"apiProvider": "OpenAI", "apiUrl": upstream.url()},
        "sk-failing",
    )
    upstream.fail(422, "The model `bad model` does not exist")
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}?tab=test")
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("Error")
    await expect(page.locator("#result-message")).to_contain_text("an error occurred while running")
    await expect(page.locator("#result-service-message")).to_contain_text(
        "The model `bad model` does not exist"
    )

    await page.get_by_label("Body").fill("{not json")
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#test-body-error")).to_contain_text("not valid JSON")
    await expect(page.get_by_label("Body")).to_be_focused()
