"""Route connectors in the UI: the create form offers the type and picks targets (with
weights) and fallbacks from the space's connectors, shows the server's refusal, and the
route's page lists its attempts and runs it from the Test tab; the usage dashboard has a
table per route once the space has one."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.ui.conftest import XSRF, create_connector, execute_run, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _two_connectors(ui: Service, upstream: FakeUpstream, prefix: str) -> tuple[str, str]:
    config = {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"}
    return (
        create_connector(ui, f"{prefix} east", config, "k-east"),
        create_connector(ui, f"{prefix} west", config, "k-west"),
    )


async def test_create_a_route_with_the_form(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    east, west = _two_connectors(ui, upstream, "Form")
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/new")
    await page.get_by_role("button", name="Route").click()
    await expect(page.get_by_role("heading", name="Create a route")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Two regions")
    await page.get_by_label("Target 1 connector").select_option(east)
    await page.get_by_label("Target 1 weight").fill("0")
    await page.get_by_role("button", name="Save route").click()
    refusal = page.locator("#route-form-error")
    await expect(refusal).to_have_text(
        "error validating connector type config: "
        "[targets.0.weight]: weight must be 1 or more, got 0"
    )
    await page.get_by_label("Target 1 weight").fill("3")
    await page.get_by_role("button", name="+ Add target").click()
    await page.locator(".target-connector").nth(1).select_option(west)
    await page.get_by_role("button", name="+ Add fallback").click()
    await page.locator(".fallback-connector").first.select_option(west)
    await page.get_by_label("Retries per connector").fill("2")
    await page.get_by_role("button", name="Save route").click()
    await page.wait_for_url(f"{ui.url}/app/routes/**")
    route_id = page.url.rsplit("/", 1)[1].split("?", 1)[0]
    with ui.client(ui.admin) as client:
        saved = client.get(f"/api/actions/connector/{route_id}").json()
    assert saved["name"] == "Two regions"
    assert saved["config"] == {
        "targets": [{"connectorId": east, "weight": 3}, {"connectorId": west, "weight": 1}],
        "fallbacks": [west],
        "retries": 2,
        "cooldownSeconds": 30,
    }
    await expect(page.locator("#connector-title")).to_have_text("Two regions")


async def test_the_route_page_shows_attempts_and_runs_the_test_tab(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    east, west = _two_connectors(ui, upstream, "Page")
    body = {
        "name": "Attempts",
        "connector_type_id": ".llmrelay-route",
        "config": {"targets": [{"connectorId": east, "weight": 1}], "fallbacks": [west]},
    }
    with ui.client(ui.admin) as client:
        route_id = client.post("/api/actions/connector", json=body, headers=XSRF).json()["id"]
        upstream.fail(503)
        assert execute_run(client, route_id, "Hi")["status"] == "ok"
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/connectors/{route_id}")  # the connector page hands over
    await page.wait_for_url(f"{ui.url}/app/routes/{route_id}")
    await page.get_by_role("tab", name="Attempts").click()
    row = page.locator("tr.route-execution").first
    await expect(row).to_contain_text(west, timeout=10_000)
    await expect(row.locator("td.attempts")).to_contain_text(f"{east}: failure (http_503)")
    await expect(row.locator("td.attempts")).to_contain_text(f"{west}: success")
    await page.get_by_role("tab", name="Test").click()
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#result-status")).to_have_text("OK")
    await expect(page.locator("#test-result")).to_have_attribute("data-done", "true")


def _route_usage(client: httpx.Client, route_id: str, executions: int) -> dict[str, Any]:
    """Events are written off the request path: poll until the route's executions count."""
    deadline = time.monotonic() + 10
    while True:
        usage: dict[str, Any] = client.get("/api/llmrelay/usage?start=now-1h&group_by=route").json()
        mine = [b for b in usage["buckets"] if b["key"] == route_id]
        done = sum(b["executions"] for b in mine)
        if done >= executions or time.monotonic() > deadline:
            assert done == executions, usage
            return {k: sum(b[k] for b in mine) for k in ("executions", "total_tokens")}
        time.sleep(0.05)


async def test_the_dashboard_shows_usage_per_route(
    ui: Service, page: Page, upstream: FakeUpstream
) -> None:
    space = "route-usage"
    config = {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"}
    with ui.client(ui.admin, base=f"/s/{space}") as client:
        target = client.post(
            "/api/actions/connector",
            json={
                "name": "Route target",
                "connector_type_id": ".gen-ai",
                "config": config,
                "secrets": {"apiKey": "k-target"},
            },
            headers=XSRF,
        ).json()["id"]
        assert execute_run(client, target, "not through a route")["status"] == "ok"
    await sign_in(page, ui)
    # no route in the space yet: no route table
    await page.goto(f"{ui.url}/s/{space}/app/usage")
    await expect(page.locator("#stat-executions")).to_have_text(re.compile(r"^\d+$"))
    await expect(page.get_by_role("heading", name="Usage per Route")).to_be_hidden()

    body = {
        "name": "Usage route",
        "connector_type_id": ".llmrelay-route",
        "config": {"targets": [{"connectorId": target, "weight": 1}]},
    }
    with ui.client(ui.admin, base=f"/s/{space}") as client:
        route_id = client.post("/api/actions/connector", json=body, headers=XSRF).json()["id"]
        for text in ("first through the route", "second through the route"):
            assert execute_run(client, route_id, text)["status"] == "ok"
        usage = _route_usage(client, route_id, 2)
    messages = [
        [{"role": "user", "content": t}]
        for t in ("first through the route", "second through the route")
    ]
    tokens = sum(
        FakeUpstream.usage_for(m, FakeUpstream.reply_text(m))["total_tokens"] for m in messages
    )
    assert usage == {"executions": 2, "total_tokens": tokens}

    await page.goto(f"{ui.url}/s/{space}/app/usage")
    await expect(page.get_by_role("heading", name="Usage per Route")).to_be_visible()
    rows = page.locator("#route-table-body tr")
    await expect(rows).to_have_count(1)  # the direct execution is not a route's
    row = page.locator(f'#route-table-body tr[data-route-id="{route_id}"]')
    await expect(row.locator("th")).to_have_text("Usage route")
    cells = row.locator("td")
    await expect(cells.nth(0)).to_have_text(route_id)
    await expect(cells.nth(1)).to_have_text("2")  # executions
    await expect(cells.nth(2)).to_have_text("0")  # failures
    await expect(cells.nth(5)).to_have_text(f"{tokens:,}")  # total tokens
    async with page.expect_download() as info:
        await page.locator("#route-csv").get_by_role("button", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == "usage-per-route.csv"
    lines = list(csv.reader(io.StringIO((await download.path()).read_text(encoding="utf-8"))))
    assert lines[0][:3] == ["Route", "Route ID", "Executions"]
    assert lines[1][:4] == ["Usage route", route_id, "2", "0"]
    assert lines[1][6] == str(tokens)
