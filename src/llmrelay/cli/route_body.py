"""The route part of ``llmrelay connectors create|update --type route``: ``--target``
(``<id>`` or ``<id>:<weight>``), ``--fallback``, ``--retries`` and ``--cooldown-seconds``
over the body's ``config``. A route has no secrets, so nothing is prompted for."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from llmrelay.cli.remote import fail_plain
from llmrelay.domain.connectors import GEN_AI
from llmrelay.domain.routes import ROUTE

__all__ = [
    "ConnectorKind",
    "CooldownOption",
    "FallbackOption",
    "KindOption",
    "RetriesOption",
    "RouteFlags",
    "TargetOption",
    "apply_route_flags",
    "is_route",
    "route_rows",
]


class ConnectorKind(StrEnum):
    """``--type``: the connector type, by a short name."""

    gen_ai = "gen-ai"
    route = "route"

    @property
    def type_id(self) -> str:
        return ROUTE if self is ConnectorKind.route else GEN_AI


KindOption = Annotated[
    ConnectorKind | None,
    typer.Option("--type", help="gen-ai (default) or route.", case_sensitive=False),
]
TargetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        help="Route: a connector id to send to, as <id> or <id>:<weight> (repeat it).",
        show_default=False,
    ),
]
FallbackOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fallback",
        help="Route: a connector id tried after the targets (repeat it, in order).",
        show_default=False,
    ),
]
RetriesOption = Annotated[
    int | None,
    typer.Option("--retries", help="Route: retries of the same connector before the next one."),
]
CooldownOption = Annotated[
    float | None,
    typer.Option(
        "--cooldown-seconds", help="Route: how long a failing connector is skipped (default 30)."
    ),
]

RouteFlags = tuple[list[str] | None, list[str] | None, int | None, float | None]
"""(--target values, --fallback values, --retries, --cooldown-seconds)."""


def is_route(body: dict[str, Any]) -> bool:
    return body.get("connector_type_id") == ROUTE


def _target(text: str) -> dict[str, Any]:
    connector_id, sep, weight = text.rpartition(":") if ":" in text else (text, "", "")
    if not sep:
        return {"connectorId": text, "weight": 1}
    if not weight.strip().isdigit():
        raise fail_plain(f"--target {text}: the weight after ':' must be a whole number")
    return {"connectorId": connector_id, "weight": int(weight)}


def apply_route_flags(body: dict[str, Any], flags: RouteFlags) -> None:
    """Route flags over ``body["config"]``; a create without any target is refused here."""
    targets, fallbacks, retries, cooldown = flags
    config = dict(body.get("config") or {})
    if targets:
        config["targets"] = [_target(text) for text in targets]
    if fallbacks:
        config["fallbacks"] = list(fallbacks)
    if retries is not None:
        config["retries"] = retries
    if cooldown is not None:
        config["cooldownSeconds"] = int(cooldown) if float(cooldown).is_integer() else cooldown
    body["config"] = config
    body.setdefault("secrets", {})
    missing = [
        flag
        for flag, ok in (("--name", body.get("name")), ("--target", config.get("targets")))
        if not ok
    ]
    if missing:
        raise fail_plain(f"missing {', '.join(missing)} (give flags or a --file)")


def route_rows(config: dict[str, Any]) -> list[tuple[str, object]]:
    """What ``connectors get`` shows of a route."""
    targets = config.get("targets") or []
    shown = ", ".join(
        f"{t.get('connectorId')} (weight {t.get('weight', 1)})"
        for t in targets
        if isinstance(t, dict)
    )
    return [
        ("targets", shown),
        ("fallbacks", ", ".join(str(f) for f in config.get("fallbacks") or [])),
        ("retries", config.get("retries")),
        ("cooldown seconds", config.get("cooldownSeconds")),
    ]
