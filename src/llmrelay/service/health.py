"""Health: whether the store answers, how the event writer keeps up, the server's
identity and its Prometheus metrics (what ``/api/status`` and ``/metrics`` show)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from llmrelay.errors import LlmrelayError
from llmrelay.metrics import RelayMetrics
from llmrelay.settings import Settings
from llmrelay.store import Store
from llmrelay.store.event_writer import EventWriter

LEVELS: Final = ("available", "degraded", "unavailable")
_PING_SECONDS = 2.0
_SPOOL_DEGRADED = 10_000

Part = dict[str, object]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """Kibana's status shape: an overall level and summary, and one entry per part."""

    overall: Part
    parts: dict[str, Part]

    @property
    def unavailable(self) -> bool:
        return self.overall["level"] == "unavailable"


class HealthService:
    def __init__(
        self, settings: Settings, store: Store, writer: EventWriter, metrics: RelayMetrics
    ) -> None:
        self._store = store
        self._writer = writer
        self.metrics = metrics
        self.server_uuid = settings.server_uuid
        self.version = settings.version

    def writer_stats(self) -> dict[str, object]:
        """The event writer's counters (queued, inserted, spooled, ...; docs/events.md)."""
        return self._writer.stats

    async def report(self) -> HealthReport:
        store = await self._store_status()
        writer, spool = _writer_status(self._writer.stats)
        parts = {"store": store, "eventWriter": writer, "spool": spool}
        worst = max(LEVELS.index(str(p["level"])) for p in parts.values())
        if store["level"] == "unavailable":
            worst = max(worst, 1)  # requests still work from caches; events spool
        overall: Part = {
            "level": LEVELS[worst],
            "summary": "All services are available"
            if worst == 0
            else "; ".join(str(p["summary"]) for p in parts.values() if p["level"] != "available"),
        }
        return HealthReport(overall, parts)

    async def _store_status(self) -> Part:
        try:
            await asyncio.wait_for(self._store.ping(), _PING_SECONDS)
        except (LlmrelayError, TimeoutError, OSError):
            return {"level": "unavailable", "summary": "The store does not answer"}
        return {"level": "available", "summary": "The store answers"}


def _writer_status(stats: dict[str, object]) -> tuple[Part, Part]:
    pending = stats.get("spool_pending")
    pending_n = pending if isinstance(pending, int) else 0
    available = stats.get("store_available") is not False
    writer: Part = {
        "level": "available" if available else "degraded",
        "summary": "Events are written to the store"
        if available
        else "The store refuses events; they are spooled to disk",
        "meta": {
            k: stats.get(k) for k in ("queued", "inserted", "spooled", "replayed", "journal_failed")
        },
    }
    spool: Part = {
        "level": "available" if pending_n < _SPOOL_DEGRADED else "degraded",
        "summary": f"{pending_n} events wait in the spool",
        "meta": {"pending": pending_n},
    }
    return writer, spool
