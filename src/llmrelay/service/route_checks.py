"""The checks on a route's config that need the store: every connector it names exists in
its space, and no route reaches itself (directly or through other routes).

Kept out of the hot path: they run on create and update only. At run time a target that
has since been deleted is skipped (the route's event says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from llmrelay.domain.routes import ROUTE, validate_route_config
from llmrelay.domain.validation import issue, join_issues
from llmrelay.errors import ConnectorValidationError

__all__ = ["Lookup", "check_references"]

Lookup = Callable[[str, str], Awaitable[tuple[str, Mapping[str, object]] | None]]
"""(space id, connector id) -> (type id, config) of that connector, or None."""

_MAX_DEPTH = 32  # routes of routes deeper than this are refused as if they looped


async def check_references(
    space_id: str,
    route_id: str | None,
    type_id: str,
    config: Mapping[str, object],
    lookup: Lookup,
) -> None:
    """Refuse (``ConnectorValidationError``, config) a route naming an unknown connector or
    reaching itself; other connector types name nothing and pass."""
    if type_id != ROUTE:
        return
    problems: list[str] = []
    for path, target in validate_route_config(config).connector_ids():
        if route_id is not None and target == route_id:
            problems.append(issue(path, f'a route cannot name itself ("{target}")'))
            continue
        found = await lookup(space_id, target)
        if found is None:
            problems.append(issue(path, f'no connector "{target}" in this space'))
            continue
        if route_id is None or found[0] != ROUTE:
            continue  # a new route has an id nobody names yet
        chain = await _path_back(space_id, route_id, target, found[1], lookup)
        if chain is not None:
            shown = " -> ".join(f'"{step}"' for step in [route_id, *chain])
            problems.append(issue(path, f"a loop: {shown}"))
    problems = list(dict.fromkeys(problems))
    if problems:
        raise ConnectorValidationError("config", join_issues(problems))


async def _path_back(
    space_id: str,
    route_id: str,
    start: str,
    start_config: Mapping[str, object],
    lookup: Lookup,
) -> list[str] | None:
    """The chain of routes from ``start`` back to ``route_id``, or None (depth first)."""
    seen: set[str] = set()
    stack: list[tuple[str, Mapping[str, object], list[str]]] = [(start, start_config, [start])]
    while stack:
        current, config, chain = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if len(chain) > _MAX_DEPTH:
            return chain
        try:
            named = validate_route_config(config).connector_ids()
        except ConnectorValidationError:
            continue  # a stored route that no longer validates names nothing we can follow
        for _, target in named:
            if target == route_id:
                return [*chain, route_id]
            if target in seen:
                continue
            found = await lookup(space_id, target)
            if found is not None and found[0] == ROUTE:
                stack.append((target, found[1], [*chain, target]))
    return None
