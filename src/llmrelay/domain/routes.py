"""Route connectors (``.llmrelay-route``): one name in front of several connectors.

A route has no URL and no secrets: its config names the connectors of its space that
answer for it (``targets`` picked by weight, then ``fallbacks`` in order) and how hard to
try each one (``retries``, ``cooldownSeconds``). Which of those connectors exist, and that
no route reaches itself, needs the store: the service checks it (see
``service/route_checks.py``); this module holds the shape and the value rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, ValidationError

from llmrelay.domain.validation import (
    StrictModel,
    blank_string_issues,
    issue,
    issues_from,
    join_issues,
    json_type,
)
from llmrelay.errors import ConnectorValidationError

__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "MAX_RETRIES",
    "ROUTE",
    "Route",
    "RouteConfig",
    "RouteTarget",
    "route_config_to_dict",
    "validate_route_config",
    "validate_route_secrets",
]

ROUTE = ".llmrelay-route"
DEFAULT_COOLDOWN_SECONDS = 30
MAX_RETRIES = 10
"""More retries than this only delay the next target; refusing them keeps a typo (100)
from holding a caller for minutes."""


class RouteTarget(StrictModel):
    """A connector the route sends to, and its share of the traffic (``weight``)."""

    connectorId: str
    weight: int = 1


class RouteConfig(StrictModel):
    """``targets`` by weight, then ``fallbacks`` in order; ``retries`` per connector."""

    targets: list[RouteTarget]
    fallbacks: list[str] = Field(default_factory=list)
    retries: int = 0
    cooldownSeconds: int | float = DEFAULT_COOLDOWN_SECONDS

    def connector_ids(self) -> list[tuple[str, str]]:
        """Every connector the route names, with the config path that names it."""
        named = [(f"targets.{i}.connectorId", t.connectorId) for i, t in enumerate(self.targets)]
        named += [(f"fallbacks.{i}", connector_id) for i, connector_id in enumerate(self.fallbacks)]
        return named


def _config_error(problems: list[str]) -> ConnectorValidationError:
    return ConnectorValidationError("config", join_issues(problems))


def validate_route_config(raw: object) -> RouteConfig:
    """The shape and value rules of a route's config (``ConnectorValidationError``)."""
    if isinstance(raw, RouteConfig):
        return raw
    if not isinstance(raw, Mapping):
        raise _config_error([issue("", f"Expected object, received {json_type(raw)}")])
    problems: list[str] = []
    targets = raw.get("targets")
    if targets is None or (isinstance(targets, list) and not targets):
        problems.append(issue("targets", "a route needs at least one target"))
    config: RouteConfig | None = None
    try:
        config = RouteConfig.model_validate(dict(raw))
    except ValidationError as err:
        problems += [p for p in issues_from(err) if not p.startswith("[targets]: Required")]
    problems += [p for p in blank_string_issues(raw) if p not in problems]
    if config is not None:
        problems += _value_issues(config)
    if problems or config is None:
        raise _config_error(problems or [issue("", "Invalid route config")])
    return config


def _value_issues(config: RouteConfig) -> list[str]:
    problems = [
        issue(f"targets.{i}.weight", f"weight must be 1 or more, got {target.weight}")
        for i, target in enumerate(config.targets)
        if target.weight < 1
    ]
    if config.retries < 0:
        problems.append(issue("retries", f"retries must be 0 or more, got {config.retries}"))
    elif config.retries > MAX_RETRIES:
        problems.append(issue("retries", f"retries must be {MAX_RETRIES} or fewer"))
    if config.cooldownSeconds < 0:
        problems.append(issue("cooldownSeconds", "cooldownSeconds must be 0 or more"))
    return problems


def validate_route_secrets(raw: object) -> None:
    """A route holds no secrets: ``{}`` (or nothing) only."""
    if raw is None or (isinstance(raw, Mapping) and not raw):
        return
    raise ConnectorValidationError("secrets", "a route has no secrets; its targets hold their own")


def route_config_to_dict(config: RouteConfig) -> dict[str, object]:
    """JSON-ready config as stored and returned (defaults filled in)."""
    dumped: dict[str, object] = config.model_dump(mode="json")
    return dumped


@dataclass(frozen=True)
class Route:
    """A validated route connector: what the cache holds and the route runner follows."""

    id: str
    name: str
    config: RouteConfig
    connector_type_id: str = ROUTE
    is_preconfigured: bool = False
