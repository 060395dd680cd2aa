"""The event log and token usage: event search, usage rollups, and the writer's flush.

Queries read the store's rollups (minute/hour/day buckets kept at write time); the
adapters validate their own inputs and call these with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, get_args

from llmrelay.domain.events import Endpoint
from llmrelay.store.event_writer import EventWriter
from llmrelay.store.events import INTERVALS, EventRepository, GroupBy, Interval
from llmrelay.store.limit_counters import NANO_USD

GROUPS: Final[tuple[GroupBy, ...]] = get_args(GroupBy)
ENDPOINTS: Final[tuple[Endpoint, ...]] = get_args(Endpoint)
TOTALS: Final = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "executions",
    "failures",
    "estimated_tokens",
    "reported_tokens",
    "unpriced_tokens",
    "unpriced_executions",
)
_COST = "cost_nano_usd"  # summed exactly as integers; answered as ``cost_usd``

__all__ = ["ENDPOINTS", "GROUPS", "INTERVALS", "TOTALS", "GroupBy", "Interval", "UsageService"]


def _cost_usd(cost_nano_usd: int, executions: int, unpriced_executions: int) -> float | None:
    """The cost of priced executions in USD; None when no execution was priced (the cost
    of what was unpriced is unknown, never 0; ``unpriced_tokens`` says how much)."""
    if executions <= unpriced_executions:
        return None
    return cost_nano_usd / NANO_USD


def _answered(sums: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket or the totals as the API answers them: ``cost_usd`` for the nano-USD sum."""
    out = {key: value for key, value in sums.items() if key != _COST}
    out["cost_usd"] = _cost_usd(
        int(sums.get(_COST) or 0),
        int(sums.get("executions") or 0),
        int(sums.get("unpriced_executions") or 0),
    )
    return out


class UsageService:
    """Reads of the event log, and the writer that fills it."""

    def __init__(self, events: EventRepository, writer: EventWriter) -> None:
        self._events = events
        self._writer = writer

    async def find_events(
        self,
        space_id: str,
        connector_id: str,
        *,
        page: int = 1,
        per_page: int = 10,
        start: datetime | None = None,
        end: datetime | None = None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """A connector's event documents, newest first: (total, this page); ``action`` and
        ``outcome`` narrow to one ``event.action`` / ``event.outcome``."""
        return await self._events.find(
            space_id=space_id,
            connector_id=connector_id,
            page=page,
            per_page=per_page,
            start=start,
            end=end,
            action=action,
            outcome=outcome,
        )

    async def usage(
        self,
        space_id: str,
        *,
        start: datetime,
        end: datetime,
        interval: Interval | None = None,
        group_by: GroupBy | None = None,
        connector_id: str | None = None,
        endpoint: str | None = None,
    ) -> dict[str, object]:
        """Token usage and cost between ``start`` and ``end`` in buckets, with their
        totals; the interval defaults to one that gives a readable number of buckets."""
        interval = interval or default_interval(end - start)
        buckets = await self._events.usage(
            space_id=space_id,
            start=start,
            end=end,
            interval=interval,
            group_by=group_by,
            connector_id=connector_id,
            endpoint=endpoint,
        )
        totals = {key: sum(int(b.get(key) or 0) for b in buckets) for key in (*TOTALS, _COST)}
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "interval": interval,
            "group_by": group_by,
            "connector_id": connector_id,
            "endpoint": endpoint,
            "totals": _answered(totals),
            "buckets": [_answered(bucket) for bucket in buckets],
        }

    async def flush(self) -> None:
        """Wait until every event submitted so far is in the store or in the spool."""
        await self._writer.flush()

    async def replay_spool(self) -> int:
        """Write the spooled events to the store now; returns how many were written (the
        writer does this by itself once the store answers again)."""
        return await self._writer.replay_now()


def default_interval(span: timedelta) -> Interval:
    if span <= timedelta(hours=2):
        return "minute"
    if span <= timedelta(days=3):
        return "hour"
    return "day"
