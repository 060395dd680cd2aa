"""The Test tab with several runs: only the latest run may update the view, and a run's
token numbers come from its own execution's event, never from the run before."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.ui.conftest import create_connector, sign_in, wait_executions

pytestmark = pytest.mark.asyncio(loop_scope="session")

MESSAGES = [{"role": "user", "content": "Hello world"}]
WORDS = ["Once", " upon", " a", " time", " there", " was", " a", " relay."]
STREAM_USAGE = FakeUpstream.usage_for(MESSAGES, "".join(WORDS))
PLAIN_USAGE = {"prompt_tokens": 111, "completion_tokens": 222, "total_tokens": 333}
DURATION = re.compile(r"^\d+ ms$")


def plain_answer(usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-plain",
        "object": "chat.completion",
        "created": 1,
        "model": "local",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A plain answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


async def open_test_tab(ui: Service, page: Page, upstream: FakeUpstream, name: str) -> str:
    config = {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "local"}
    connector_id = create_connector(ui, name, config, "local-key")
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}?tab=test")
    return connector_id


async def expect_tokens(page: Page, usage: dict[str, int], source: str) -> None:
    await expect(page.locator("#result-prompt")).to_have_text(str(usage["prompt_tokens"]))
    await expect(page.locator("#result-completion")).to_have_text(str(usage["completion_tokens"]))
    await expect(page.locator("#result-total")).to_have_text(str(usage["total_tokens"]))
    await expect(page.locator("#result-source")).to_have_text(source)


async def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_run_started_during_another_supersedes_it(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    """A slow plain run, then a stream before it answered: the plain answer (other token
    numbers, a later duration) lands after the stream started and must change nothing."""
    connector_id = await open_test_tab(ui, page, upstream, "Superseded runs")
    upstream.slow_first_byte(3.0)  # the plain run: default answer, its own usage, late
    upstream.stream(WORDS, usage=True)
    plain_usage = FakeUpstream.usage_for(MESSAGES, FakeUpstream.reply_text(MESSAGES))
    assert plain_usage != STREAM_USAGE

    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("Running…")
    await until(lambda: len(upstream.requests) == 1, "the plain request upstream")
    await page.get_by_role("switch", name="Stream the response").check()
    await page.get_by_role("button", name="Run").click()

    await expect(page.locator("#result-stream")).to_have_text("".join(WORDS))
    await expect(page.locator("#test-result")).to_have_attribute("data-done", "true")
    await expect(page.locator("#result-status")).to_have_text("OK")
    await expect_tokens(page, STREAM_USAGE, "stream")
    duration = await page.locator("#result-duration").text_content()
    assert duration is not None and DURATION.match(duration)
    assert json.loads(upstream.requests[1].body)["stream"] is True

    # the superseded plain execution finishes on the server and is logged; the view stays
    wait_executions(ui, connector_id, 2)
    await expect(page.locator("#result-json-box")).to_be_hidden()
    await expect_tokens(page, STREAM_USAGE, "stream")
    assert await page.locator("#result-duration").text_content() == duration


async def test_a_stream_never_shows_the_plain_run_before_it(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    """The event of a stream is written a moment after the stream ends; until it is there,
    the log's newest execution is the plain run before. That one must not be taken."""
    await open_test_tab(ui, page, upstream, "Plain then stream")
    hide_streams = False
    streaming = False
    lookups_while_hidden = 0
    stream_lookups = 0
    two_lookups = asyncio.Event()

    async def writer_lag(route: Route) -> None:
        nonlocal lookups_while_hidden, stream_lookups
        response = await route.fetch()
        found = await response.json()
        if "per_page=10&" in route.request.url and streaming:
            stream_lookups += 1
        if hide_streams:
            found["data"] = [
                d for d in found["data"] if (d.get("llmrelay") or {}).get("sub_action") != "stream"
            ]
            if "per_page=10&" in route.request.url:
                lookups_while_hidden += 1
                if lookups_while_hidden == 2:
                    two_lookups.set()
        await route.fulfill(response=response, json=found)

    await page.route("**/event_log/connector/**", writer_lag)
    upstream.reply_json(plain_answer(PLAIN_USAGE))
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#test-result")).to_have_attribute("data-done", "true")
    await expect_tokens(page, PLAIN_USAGE, "response")

    hide_streams = streaming = True
    upstream.stream(WORDS, usage=True)
    await page.get_by_role("switch", name="Stream the response").check()
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-stream")).to_have_text("".join(WORDS))
    # the second lookup is only sent once the first answer (holding only the plain
    # run's event) was read: by then the view must still show the stream's own numbers
    await asyncio.wait_for(two_lookups.wait(), 10)
    await expect_tokens(page, STREAM_USAGE, "stream")
    assert await page.locator("#test-result").get_attribute("data-done") is None

    hide_streams = False
    await expect(page.locator("#test-result")).to_have_attribute("data-done", "true")
    await expect_tokens(page, STREAM_USAGE, "stream")
    # ended by finding the stream's event, not by giving up after 20 lookups
    assert stream_lookups < 20
