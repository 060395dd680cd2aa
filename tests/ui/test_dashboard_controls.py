"""The dashboard's controls: quick relative ranges, auto-refresh, one date format with the
time zone, CSV export of each table, Chart.js charts with readable axes; at 390 px nothing
scrolls sideways and the charts fit."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.async_api import Page, expect

from llmrelay.testing import FakeUpstream
from tests.fixtures.browser import screenshot
from tests.fixtures.service import Service
from tests.ui.conftest import (
    create_connector,
    execute_run,
    no_sideways_scroll,
    sign_in,
    wait_executions,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
ONE_FORMAT = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


@pytest.fixture
def connector_with_usage(ui: Service, upstream: FakeUpstream) -> str:
    connector_id = create_connector(
        ui,
        'CSV, "quoted" model',
        {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "csv-model"},
        "csv-key",
    )
    with ui.client(ui.admin) as client:
        execute_run(client, connector_id, "count me")
    wait_executions(ui, connector_id, 1)
    return connector_id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_ranges_refresh_dates_csv_and_axes(
    ui: Service,
    page: Page,
    connector_with_usage: str,
    viewport: dict[str, int],
    take_screenshots: bool,
) -> None:
    await page.set_viewport_size(viewport)
    await page.clock.install()
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/usage?connector={connector_with_usage}")
    dashboard = page.locator("#usage-dashboard")
    await expect(page.locator("#stat-executions")).to_have_text("1")
    await expect(page.locator("#usage-range-label")).to_have_text(
        re.compile(rf"^{ONE_FORMAT} – {ONE_FORMAT}$")
    )

    # quick ranges: one click, pressed state, in the URL
    before = await dashboard.get_attribute("data-loaded")
    await page.get_by_role("group", name="Quick ranges").get_by_role("button", name="1 h").click()
    await expect(dashboard).not_to_have_attribute("data-loaded", before or "")
    await expect(page.get_by_label("Time range")).to_have_value("1h")
    await expect(
        page.get_by_role("group", name="Quick ranges").get_by_role("button", name="1 h")
    ).to_have_attribute("aria-pressed", "true")
    await expect(page).to_have_url(re.compile(r"range=1h"))

    # Chart.js draws the charts; the time axis names the time zone
    canvas = page.get_by_role("img", name="Tokens over Time per Connector")
    await expect(canvas).to_be_visible()
    axis = await page.evaluate(
        """() => {
            const canvas = document.querySelector('[data-chart="chart-connector-time-svg"]');
            const chart = Chart.getChart(canvas);
            return [chart.options.scales.x.title.text, chart.options.scales.y.title.text];
        }"""
    )
    assert axis == ["Time (UTC)", "Tokens"]
    box = await canvas.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]

    # drag across the time chart to zoom into a span; Reset zoom goes back
    if viewport == DESKTOP:
        zoomed = "Chart.getChart(document.querySelector('#chart-connector-time canvas'))"
        await canvas.scroll_into_view_if_needed()
        box = await canvas.bounding_box()
        assert box
        y = box["y"] + box["height"] / 2
        await page.mouse.move(box["x"] + box["width"] * 0.3, y)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
        await page.mouse.up()
        reset = page.locator("#chart-connector-time").get_by_role("button", name="Reset zoom")
        await expect(reset).to_be_visible()
        assert await page.evaluate(f"{zoomed}.isZoomedOrPanned()")
        await reset.click()
        await expect(reset).to_be_hidden()
        assert not await page.evaluate(f"{zoomed}.isZoomedOrPanned()")

    # CSV of the model table and of a chart's data table
    async with page.expect_download() as info:
        await page.locator("#model-csv").get_by_role("button", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == "usage-per-model.csv"
    rows = list(csv.reader(io.StringIO((await download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["Model", "Executions"]
    assert rows[1][:3] == ["csv-model", "1", "0"]
    details = page.locator("#chart-connector-time details")
    await details.locator("summary").click()
    async with page.expect_download() as info:
        await details.get_by_role("button", name="Download CSV").click()
    download = await info.value
    rows = list(csv.reader(io.StringIO((await download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["Time (UTC)", 'CSV, "quoted" model']
    assert any(re.fullmatch(ONE_FORMAT, row[0]) and row[1] != "0" for row in rows[1:])

    # auto-refresh: the dashboard reloads on its timer
    before = await dashboard.get_attribute("data-loaded")
    await page.get_by_label("Auto-refresh").select_option("10")
    await expect(page).to_have_url(re.compile(r"refresh=10"))
    await expect(dashboard).not_to_have_attribute("data-loaded", before or "")
    loaded = await dashboard.get_attribute("data-loaded")
    await page.clock.fast_forward(11_000)
    await expect(dashboard).not_to_have_attribute("data-loaded", loaded or "")

    await no_sideways_scroll(page)
    if viewport == PHONE:
        await screenshot(page, "dashboard-phone", take_screenshots)
