"""Event log search and token usage: both need ``usage_read`` in the space.

A caller without it gets what Kibana answers when its event log refuses a connector's
events (``Unauthorized to get actions``: Kibana asks the actions client for the connector);
usage has no Kibana counterpart and says ``Unauthorized to get usage``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.domain.durations import DATE_MATH_UNITS, parse_duration
from llmrelay.errors import BadRequestError
from llmrelay.service import ENDPOINTS, GROUPS, INTERVALS
from llmrelay.web.auth import unauthorized
from llmrelay.web.context import caller, relay_of, space_of
from llmrelay.web.json import json_response

_MAX_PER_PAGE = 10_000
_ACTIONS = ("execute-start", "execute")
_OUTCOMES = ("success", "failure")


def _choice_param(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise BadRequestError(f"[{name}]: expected one of {', '.join(allowed)} but got [{raw}]")
    return raw


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"[{name}]: expected an integer but got [{raw}]") from None
    if not low <= value <= high:
        raise BadRequestError(f"[{name}]: must be between {low} and {high}")
    return value


def parse_time(raw: str | None, name: str) -> datetime | None:
    """ISO-8601 (``Z`` allowed) or relative ``now-15m`` / ``now-24h`` / ``now-7d``."""
    if raw is None or raw == "":
        return None
    now = datetime.now(UTC)
    if raw == "now":
        return now
    if raw.startswith("now-"):
        relative = parse_duration(raw[4:], units=DATE_MATH_UNITS, date_math=True)
        if relative is not None:
            return now - relative.as_timedelta()
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"[{name}]: expected an ISO-8601 time or now-<n><s|m|h|d|w> but got [{raw}]"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def find_events(request: Request) -> Response:
    await caller(request, "usage.read", denied=unauthorized("get"))
    page = _int_param(request, "page", 1, low=1, high=1_000_000)
    per_page = _int_param(request, "per_page", 10, low=1, high=_MAX_PER_PAGE)
    total, docs = await relay_of(request).usage.find_events(
        space_of(request),
        request.path_params["id"],
        page=page,
        per_page=per_page,
        start=parse_time(request.query_params.get("start"), "start"),
        end=parse_time(request.query_params.get("end"), "end"),
        action=_choice_param(request, "action", _ACTIONS),
        outcome=_choice_param(request, "outcome", _OUTCOMES),
    )
    return json_response({"page": page, "per_page": per_page, "total": total, "data": docs})


async def usage(request: Request) -> Response:
    await caller(request, "usage.read", denied="Unauthorized to get usage")
    q = request.query_params
    end = parse_time(q.get("end"), "end") or datetime.now(UTC)
    start = parse_time(q.get("start"), "start") or end - timedelta(days=1)
    if start >= end:
        raise BadRequestError("[start]: must be before [end]")
    interval = q.get("interval") or None
    if interval is not None and interval not in INTERVALS:
        raise BadRequestError(f"[interval]: expected one of {', '.join(INTERVALS)}")
    group_by = q.get("group_by") or None
    if group_by is not None and group_by not in GROUPS:
        raise BadRequestError(f"[group_by]: expected one of {', '.join(GROUPS)}")
    endpoint = q.get("endpoint") or None
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise BadRequestError(f"[endpoint]: expected one of {', '.join(ENDPOINTS)}")
    report = await relay_of(request).usage.usage(
        space_of(request),
        start=start,
        end=end,
        interval=interval,
        group_by=group_by,
        connector_id=q.get("connector_id") or None,
        endpoint=endpoint,
    )
    return json_response(report)


routes = [
    Route("/event_log/connector/{id}/_find", find_events, methods=["GET"]),
    Route("/llmrelay/usage", usage, methods=["GET"]),
]
