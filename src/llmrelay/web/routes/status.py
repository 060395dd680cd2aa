"""Operability: ``GET /api/status`` (Kibana's shape) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.errors import LlmrelayError
from llmrelay.web.context import relay_of
from llmrelay.web.json import json_response


async def status(request: Request) -> Response:
    """Everyone sees the overall level; an authenticated caller sees the parts too."""
    health = relay_of(request).health
    report = await health.report()
    code = 503 if report.unavailable else 200
    authenticated = False
    header = request.headers.get("authorization")
    if header:
        try:
            await request.app.state.auth.authenticate(header)
            authenticated = True
        except LlmrelayError:
            authenticated = False
    if not authenticated:
        return json_response({"status": {"overall": {"level": report.overall["level"]}}}, code)
    return json_response(
        {
            "name": "llmrelay",
            "uuid": health.server_uuid,
            "version": {"number": health.version, "build_flavor": "default"},
            "status": {"overall": report.overall, "core": report.parts},
        },
        code,
    )


async def metrics(request: Request) -> Response:
    metrics_ = relay_of(request).health.metrics
    return Response(metrics_.render(), media_type=metrics_.content_type)


routes = [
    Route("/api/status", status, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
