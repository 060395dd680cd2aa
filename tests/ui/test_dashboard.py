"""The OpenAI Token Usage dashboard: opened from the connector's link, totals that match
the executions made, and the permissions note for users without ``usage_read``."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from playwright.async_api import Page, expect

from llmrelay.domain.prices import cost_usd
from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service, basic
from tests.ui.conftest import (
    ANALYST,
    VIEWER,
    create_connector,
    execute_run,
    sign_in,
    wait_executions,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_dashboard_from_connector_link_matches_executions(
    ui: Service, page: Page, upstream: FakeUpstream, take_screenshots: bool
) -> None:
    connector_id = create_connector(
        ui,
        "Dashboard model",
        {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "llama-3.1-8b"},
        "dash-key",
    )
    texts = {
        "admin": ["how many tokens is this", "count these words please"],
        "analyst": ["a question from the analyst team"],
    }
    expected = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    per_user: dict[str, int] = {}
    for user, prompts in texts.items():
        headers = ui.admin if user == "admin" else basic(*ANALYST)
        with ui.client(headers) as client:
            for text in prompts:
                assert execute_run(client, connector_id, text)["status"] == "ok"
                messages = [{"role": "user", "content": text}]
                usage = FakeUpstream.usage_for(messages, FakeUpstream.reply_text(messages))
                for key in expected:
                    expected[key] += usage[key]
                per_user[user] = per_user.get(user, 0) + usage["total_tokens"]
    upstream.fail(500, "upstream exploded")
    with ui.client(ui.admin) as client:
        assert execute_run(client, connector_id, "this one fails")["status"] == "error"
    wait_executions(ui, connector_id, 4)

    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{connector_id}")
    link = page.get_by_role(
        "link", name='View OpenAI Usage Dashboard for "Dashboard model" Connector'
    )
    await link.click()
    await expect(page).to_have_url(f"{ui.url}/app/usage?range=24h&connector={connector_id}")
    await expect(page.get_by_role("heading", name="OpenAI Token Usage")).to_be_visible()
    await expect(page.get_by_label("Connector", exact=True)).to_have_value(connector_id)
    await expect(page.locator("#stat-executions")).to_have_text("4")
    await expect(page.locator("#stat-failure-rate")).to_have_text("25%")
    total = f"{expected['total_tokens']:,}"
    await expect(page.locator("#stat-total-tokens")).to_have_text(total)
    for chart in ("chart-user-tokens", "chart-user-total", "chart-connector-time"):
        await expect(page.locator(f"#{chart}")).to_have_attribute(
            "data-total", str(expected["total_tokens"])
        )
        await expect(page.locator(f"#{chart} .chart-total-value")).to_have_text(total)
    stacked = page.get_by_role("img", name="Prompt + Completion Tokens per User")
    await expect(stacked).to_be_visible()
    await page.locator("#chart-user-total summary").click()
    rows = page.locator("#chart-user-total table tbody tr")
    for user, tokens in per_user.items():
        await expect(rows.filter(has_text=user)).to_contain_text(f"{tokens:,}")
    model_row = page.locator("#model-table-body tr").filter(has_text="llama-3.1-8b")
    await expect(model_row).to_contain_text("4")
    await expect(page.locator("#stat-estimated-share")).to_have_text("0% estimated")
    await page.locator("#chart-user-total summary").click()
    await screenshot(page, "dashboard", take_screenshots)

    await page.get_by_label("Time range").select_option("15m")
    await expect(page).to_have_url(f"{ui.url}/app/usage?range=15m&connector={connector_id}")
    await expect(page.locator("#stat-executions")).to_have_text("4")
    await page.get_by_label("Time range").select_option("custom")
    await page.get_by_label("From", exact=True).fill("2000-01-01T00:00")
    await page.get_by_label("To", exact=True).fill("2000-01-02T00:00")
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#stat-executions")).to_have_text("0")
    await expect(page.locator("#chart-user-total")).to_contain_text("No data in this time range.")


async def test_without_usage_read_a_permissions_note(ui: Service, page: Page) -> None:
    await sign_in(page, ui, VIEWER)
    await page.goto(f"{ui.url}/app/usage")
    note = page.get_by_role("note")
    await expect(note).to_contain_text("You need permission to view this dashboard")
    await expect(note).to_contain_text("usage_read")
    await expect(page.locator("#usage-dashboard")).to_have_count(0)
    response = await page.request.get(f"{ui.url}/api/llmrelay/usage")
    assert response.status == 403
    # the viewer still sees connectors, but cannot create them
    await page.goto(f"{ui.url}/app/connectors")
    await expect(page.locator("#connectors-body tr").first).to_be_visible()
    await expect(page.get_by_role("button", name="Create connector")).to_have_count(0)


async def test_cost_cards_cost_over_time_and_usage_per_endpoint(
    ui: Service, page: Page, upstream: FakeUpstream, take_screenshots: bool
) -> None:
    connector_id = create_connector(
        ui,
        "Priced model",
        {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "gpt-4o-mini"},
        "cost-key",
    )
    expected_nano = 0
    with ui.client(ui.admin) as client:
        for text in ("what does this cost", "and this one"):
            assert execute_run(client, connector_id, text)["status"] == "ok"
            messages = [{"role": "user", "content": text}]
            usage = FakeUpstream.usage_for(messages, FakeUpstream.reply_text(messages))
            cost = cost_usd("gpt-4o-mini", usage["prompt_tokens"], usage["completion_tokens"])
            assert cost is not None
            expected_nano += round(cost * 1e9)
        local = [{"role": "user", "content": "a model without a price"}]
        body = json.dumps({"model": "my-local-model", "messages": local})
        answer = client.post(
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": {"subAction": "run", "subActionParams": {"body": body}}},
            headers={"kbn-xsrf": "true"},
        )
        assert answer.json()["status"] == "ok"
        unpriced = FakeUpstream.usage_for(local, FakeUpstream.reply_text(local))["total_tokens"]
    key = await asyncio.to_thread(ui.api_key, ["connectors_read"])  # it runs its own loop
    with ui.client(key) as client:
        embedded = client.post(
            "/v1/embeddings",
            json={"model": f"{connector_id}/text-embedding-3-small", "input": "embed me"},
        )
        assert embedded.status_code == 200, embedded.text
        embed_tokens = embedded.json()["usage"]["total_tokens"]
    expected_nano += embed_tokens * 20  # 0.02 USD per million tokens = 20 nano-USD each
    wait_executions(ui, connector_id, 4)

    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/usage?range=24h&connector={connector_id}")
    cost_card = page.locator("#stat-cost")
    await expect(cost_card).to_have_text(re.compile(r"^\$0\.\d{2,8}$"))
    assert float(await cost_card.get_attribute("data-value") or "") == expected_nano / 1e9
    await expect(page.locator("#stat-cost-note")).to_have_text("3 of 4 executions priced")
    await expect(page.locator("#stat-unpriced")).to_have_text(f"{unpriced:,}")
    await expect(page.locator("#stat-unpriced-note")).to_contain_text("tokens unpriced")
    model_rows = page.locator("#model-table-body tr")
    await expect(model_rows.filter(has_text="my-local-model")).to_contain_text("–")
    await expect(model_rows.filter(has_text="gpt-4o-mini")).to_contain_text("$0.0")
    endpoint_rows = page.locator("#endpoint-table-body tr")
    await expect(endpoint_rows).to_have_count(2)
    await expect(endpoint_rows.filter(has_text="chat")).to_contain_text(f"{unpriced:,}")
    await expect(endpoint_rows.filter(has_text="embeddings")).to_contain_text("$0.0")
    cost_chart = page.get_by_role("img", name="Cost over Time per Endpoint")
    await expect(cost_chart).to_be_visible()
    await expect(page.locator("#chart-cost-time .chart-legend")).to_contain_text("embeddings")
    await screenshot(page, "dashboard-cost", take_screenshots)

    await page.get_by_label("Endpoint", exact=True).select_option("embeddings")
    await expect(page).to_have_url(
        f"{ui.url}/app/usage?range=24h&connector={connector_id}&endpoint=embeddings"
    )
    await expect(page.locator("#stat-executions")).to_have_text("1")
    await expect(endpoint_rows).to_have_count(1)
    assert float(await cost_card.get_attribute("data-value") or "") == embed_tokens * 20 / 1e9
    await expect(page.locator("#stat-unpriced")).to_have_text("0")
    await expect(endpoint_rows).to_have_count(1)
