"""Operability: ``GET /api/status`` (Kibana's shape) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.errors import LlmrelayError
from llmrelay.web.context import relay_of
from llmrelay.web.json import json_response

_PING_SECONDS = 2.0
_SPOOL_DEGRADED = 10_000
_LEVELS = ("available", "degraded", "unavailable")


async def _store_status(request: Request) -> dict[str, object]:
    try:
        await asyncio.wait_for(relay_of(request).store.ping(), _PING_SECONDS)
    except (LlmrelayError, TimeoutError, OSError):
        return {"level": "unavailable", "summary": "The store does not answer"}
    return {"level": "available", "summary": "The store answers"}


def _writer_status(stats: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    pending = stats.get("spool_pending")
    pending_n = pending if isinstance(pending, int) else 0
    available = stats.get("store_available") is not False
    writer: dict[str, object] = {
        "level": "available" if available else "degraded",
        "summary": "Events are written to the store"
        if available
        else "The store refuses events; they are spooled to disk",
        "meta": {k: stats.get(k) for k in ("queued", "inserted", "spooled", "replayed")},
    }
    spool: dict[str, object] = {
        "level": "available" if pending_n < _SPOOL_DEGRADED else "degraded",
        "summary": f"{pending_n} events wait in the spool",
        "meta": {"pending": pending_n},
    }
    return writer, spool


async def status(request: Request) -> Response:
    relay = relay_of(request)
    store = await _store_status(request)
    writer, spool = _writer_status(relay.writer.stats)
    parts = {"store": store, "eventWriter": writer, "spool": spool}
    worst = max(_LEVELS.index(str(p["level"])) for p in parts.values())
    if store["level"] == "unavailable":
        worst = max(worst, 1)  # requests still work from caches; events spool
    overall = {
        "level": _LEVELS[worst],
        "summary": "All services are available"
        if worst == 0
        else "; ".join(str(p["summary"]) for p in parts.values() if p["level"] != "available"),
    }
    code = 503 if overall["level"] == "unavailable" else 200
    authenticated = False
    header = request.headers.get("authorization")
    if header:
        try:
            await request.app.state.auth.authenticate(header)
            authenticated = True
        except LlmrelayError:
            authenticated = False
    if not authenticated:
        return json_response({"status": {"overall": {"level": overall["level"]}}}, code)
    settings = relay.settings
    return json_response(
        {
            "name": "llmrelay",
            "uuid": settings.server_uuid,
            "version": {"number": settings.version, "build_flavor": "default"},
            "status": {"overall": overall, "core": parts},
        },
        code,
    )


async def metrics(request: Request) -> Response:
    metrics_ = relay_of(request).metrics
    return Response(metrics_.render(), media_type=metrics_.content_type)


routes = [
    Route("/api/status", status, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
