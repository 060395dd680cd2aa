"""The dashboard's time charts are evenly spaced in time: a bucket without executions is a
zero bar, and a range of more buckets than bars groups equal runs of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from playwright.async_api import Page, expect

from llmrelay.domain.event_documents import execute_document, start_document
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.store import open_store
from tests.fixtures.service import Service
from tests.ui.conftest import create_connector, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHART = """() => {
    const chart = Chart.getChart(document.querySelector('[data-chart="chart-connector-time-svg"]'));
    return [chart.data.labels, chart.data.datasets[0].data];
}"""
DRAWN = """(bars) => {
    const canvas = document.querySelector('[data-chart="chart-connector-time-svg"]');
    const chart = canvas && Chart.getChart(canvas);
    return Boolean(chart) && chart.data.labels.length === bars;
}"""


async def _chart(page: Page, bars: int) -> tuple[list[str], list[int]]:
    """The chart's labels and values once it is drawn with ``bars`` bars (the totals can
    show before the chart is drawn again)."""
    await page.wait_for_function(DRAWN, arg=bars)
    labels, values = await page.evaluate(CHART)
    return labels, values


async def _seed(svc: Service, connector_id: str, days_ago: list[int]) -> None:
    """Executions of ``connector_id`` at noon (UTC) of past days, written to the store as
    the event writer writes them (the service made them then, as far as it knows)."""
    documents: list[dict[str, Any]] = []
    for n, days in enumerate(days_ago):
        ended = _today() - timedelta(days=days) + timedelta(hours=12)
        ended_ns = int(ended.timestamp()) * 1_000_000_000
        record = ExecutionRecord(
            execution_id=f"{connector_id}-{n}",
            connector_id=connector_id,
            connector_name="Spaced out",
            connector_type_id=".gen-ai",
            sub_action="run",
            space_id="default",
            user_name="admin",
            started_ns=ended_ns - 1_000_000,
            ended_ns=ended_ns,
            outcome="success",
            model="spaced-model",
            usage=TokenUsage(7, 3, 10, "response"),
            error_message=None,
        )
        server = {"server_uuid": "seeded", "version": "8.15.0"}
        documents += [start_document(record, **server), execute_document(record, **server)]
    settings = svc.settings
    store = await open_store(settings.database_url, encryption_key=settings.encryption_key or "")
    try:
        assert await store.events.write(documents) == len(documents)
    finally:
        await store.close()


def _today() -> datetime:
    """Midnight (UTC) of today: the dashboard's day buckets are UTC days."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day(days_ago: int) -> str:
    return (_today() - timedelta(days=days_ago)).date().isoformat()


async def test_a_day_without_executions_is_a_zero_bar(ui: Service, page: Page) -> None:
    connector_id = create_connector(
        ui, "Spaced out", {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1"}, "k"
    )
    await _seed(ui, connector_id, [5, 3])
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/usage?range=7d&connector={connector_id}")
    await expect(page.locator("#stat-executions")).to_have_text("2")
    labels, values = await _chart(page, 8)
    # a bar for every day of the range, in order, none skipped
    assert labels == [_day(d) for d in range(7, -1, -1)]
    by_day = dict(zip(labels, values, strict=True))
    assert (by_day[_day(5)], by_day[_day(4)], by_day[_day(3)]) == (10, 0, 10)
    await page.locator("#chart-connector-time summary").click()
    row = page.locator("#chart-connector-time tbody tr").filter(has_text=_day(4))
    await expect(row.locator("td")).to_have_text("0")


async def test_a_long_range_groups_equal_runs_of_days(ui: Service, page: Page) -> None:
    connector_id = create_connector(
        ui, "Spaced far", {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1"}, "k"
    )
    await _seed(ui, connector_id, [790, 789, 10])
    await sign_in(page, ui)
    await page.goto(f"{ui.url}/app/usage?connector={connector_id}")
    await page.get_by_label("Time range").select_option("custom")
    await page.get_by_label("From", exact=True).fill(f"{_day(800)}T00:00")
    await page.get_by_label("To", exact=True).fill(f"{_day(0)}T00:00")
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#stat-executions")).to_have_text("3")
    labels, values = await _chart(page, 267)
    # 801 days in bars of 3 days: 267 bars, each starting 3 days after the one before
    assert len(labels) == 267
    starts = [datetime.fromisoformat(label) for label in labels]
    assert {later - earlier for earlier, later in pairwise(starts)} == {timedelta(3)}
    assert starts[0].date().isoformat() == _day(800)
    assert sum(values) == 30
    assert [v for v in values if v] == [20, 10]  # days 790 and 789 share a bar
