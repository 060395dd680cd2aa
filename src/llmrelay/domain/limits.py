"""Limits and budgets: what a limit is, which requests it covers, its calendar windows.

A limit has a name, exactly one scope (a connector, a user, an API key or a whole space)
and at least one positive figure: requests per minute, tokens per minute/day/month, cost in
USD per day/month. Every figure belongs to one calendar window in UTC (the minute, the day,
the month); a window's counters start from zero when the next one begins, so "admits again"
is always the start of the next window. Enforcement (``store/limit_counters.py``) counts
requests when admitted and tokens and cost when the execution ends.

Validation messages follow the domain's one format (``domain/validation.py``): ``[field]:
reason`` per issue, never the rejected value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from llmrelay.domain.validation import StrictModel, issue, issues_from, join_issues, json_type
from llmrelay.errors import LimitValidationError

__all__ = [
    "FIGURES",
    "SCOPE_KINDS",
    "WINDOWS",
    "Admission",
    "Caller",
    "Cap",
    "Limit",
    "LimitValidationError",
    "Refusal",
    "StoredLimit",
    "next_window_start",
    "parse_limit",
    "retry_after_seconds",
    "window_start",
]

ScopeKind = Literal["connector", "user", "api_key", "space"]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("connector", "user", "api_key", "space")
WindowKind = Literal["minute", "day", "month"]
WINDOWS: tuple[WindowKind, ...] = ("minute", "day", "month")
Metric = Literal["requests", "tokens", "cost_usd"]

FIGURES: tuple[tuple[str, Metric, WindowKind], ...] = (
    ("requests_per_minute", "requests", "minute"),
    ("tokens_per_minute", "tokens", "minute"),
    ("tokens_per_day", "tokens", "day"),
    ("tokens_per_month", "tokens", "month"),
    ("cost_usd_per_day", "cost_usd", "day"),
    ("cost_usd_per_month", "cost_usd", "month"),
)
"""Each figure of a limit: (field, what it counts, its window)."""

NAME_MAX_LENGTH = 256
_MAX_FIGURE = 2**53  # JSON's safe integers; also far inside the store's BIGINT counters
_SCOPE_LIST = ", ".join(f'"{kind}"' for kind in SCOPE_KINDS)
_FIGURE_LIST = ", ".join(field for field, _, _ in FIGURES)


# --- field checks ---------------------------------------------------------------------------
def _positive(number: int | float) -> None:
    if number <= 0:
        raise PydanticCustomError("too_small", "Number must be greater than 0")
    if number > _MAX_FIGURE:
        raise PydanticCustomError(
            "too_big", "Number must be less than or equal to {max}", {"max": _MAX_FIGURE}
        )


def _whole_figure(value: object) -> int:
    """A count (requests, tokens): a positive JSON integer; ``100.0`` is 100 as in JSON."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "number_type", "Expected number, received {received}", {"received": json_type(value)}
        )
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise PydanticCustomError("not_integer", "Expected integer, received float")
    _positive(value)
    return int(value)


def _money_figure(value: object) -> float:
    """A USD amount: a positive, finite JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "number_type", "Expected number, received {received}", {"received": json_type(value)}
        )
    if not math.isfinite(value):
        raise PydanticCustomError("number_type", "Expected a finite number")
    _positive(value)
    return float(value)


def _name(value: object) -> object:
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("blank", "must not be empty or whitespace only")
        if len(value) > NAME_MAX_LENGTH:
            raise PydanticCustomError(
                "too_long",
                "String must contain at most {max} character(s)",
                {"max": NAME_MAX_LENGTH},
            )
    return value  # other types: the strict string check words it


def _scope(value: object) -> dict[str, str]:
    """``{"connector": id}`` | ``{"user": name}`` | ``{"api_key": id}`` | ``{"space": id}``."""
    if not isinstance(value, Mapping):
        raise PydanticCustomError(
            "scope_type", "Expected object, received {received}", {"received": json_type(value)}
        )
    unknown = [str(key) for key in value if key not in SCOPE_KINDS]
    if unknown:
        keys = ", ".join(f'"{key}"' for key in unknown)
        raise PydanticCustomError(
            "scope_keys",
            "Unrecognized keys: {keys}; expected exactly one of {allowed}",
            {"keys": keys, "allowed": _SCOPE_LIST},
        )
    if len(value) != 1:
        raise PydanticCustomError(
            "scope_count", "Expected exactly one of {allowed}", {"allowed": _SCOPE_LIST}
        )
    ((kind, target),) = value.items()
    if not isinstance(target, str):
        raise PydanticCustomError(
            "scope_value",
            '"{kind}" must be a string, received {received}',
            {"kind": kind, "received": json_type(target)},
        )
    if not target.strip():
        raise PydanticCustomError(
            "scope_value", '"{kind}" must not be empty or whitespace only', {"kind": kind}
        )
    return {str(kind): target}


WholeFigure = Annotated[int, BeforeValidator(_whole_figure)]
MoneyFigure = Annotated[float, BeforeValidator(_money_figure)]


# --- the model --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cap:
    """One figure of a limit: ``figure`` of ``metric`` per ``window`` (``field`` names it)."""

    field: str
    metric: Metric
    window: WindowKind
    figure: int | float

    def describe(self) -> str:
        """``100 requests per minute``, ``5 USD per day``: what a refusal says was reached."""
        unit = {"requests": "requests", "tokens": "tokens", "cost_usd": "USD"}[self.metric]
        figure = f"{self.figure:g}" if isinstance(self.figure, float) else str(self.figure)
        return f"{figure} {unit} per {self.window}"


class Limit(StrictModel):
    """A limit as the API accepts it (``POST``/``PUT /api/llmrelay/limits``).

    An absent or ``null`` figure means "no limit of that kind"; at least one must be given.
    """

    _nullable: ClassVar[frozenset[str]] = frozenset(field for field, _, _ in FIGURES)

    name: Annotated[str, BeforeValidator(_name)]
    scope: Annotated[dict[str, str], BeforeValidator(_scope)]
    requests_per_minute: WholeFigure | None = None
    tokens_per_minute: WholeFigure | None = None
    tokens_per_day: WholeFigure | None = None
    tokens_per_month: WholeFigure | None = None
    cost_usd_per_day: MoneyFigure | None = None
    cost_usd_per_month: MoneyFigure | None = None

    @model_validator(mode="after")
    def _some_figure(self) -> Limit:
        if not self.caps():
            raise PydanticCustomError(
                "no_figure",
                "At least one of {figures} must be given (a positive number)",
                {"figures": _FIGURE_LIST},
            )
        return self

    @property
    def scope_kind(self) -> ScopeKind:
        kind = next(iter(self.scope))
        return next(k for k in SCOPE_KINDS if k == kind)

    @property
    def scope_id(self) -> str:
        return next(iter(self.scope.values()))

    def caps(self) -> tuple[Cap, ...]:
        """The figures this limit sets, in :data:`FIGURES` order."""
        found: list[Cap] = []
        for field, metric, window in FIGURES:
            figure = getattr(self, field)
            if figure is not None:
                found.append(Cap(field, metric, window, figure))
        return tuple(found)

    def windows(self) -> tuple[WindowKind, ...]:
        """The calendar windows this limit counts in (minute, day, month order)."""
        used = {cap.window for cap in self.caps()}
        return tuple(window for window in WINDOWS if window in used)

    def to_dict(self) -> dict[str, object]:
        """The API shape: name, scope and the figures that are set (no nulls)."""
        body: dict[str, object] = {"name": self.name, "scope": dict(self.scope)}
        body.update({cap.field: cap.figure for cap in self.caps()})
        return body


def parse_limit(body: object, *, space_id: str | None = None) -> Limit:
    """Validate an API body; every problem is a :class:`LimitValidationError` naming the field.

    With ``space_id`` (the space the limit is created in), a ``{"space": id}`` scope must
    name that space: a space's limits cannot cap another space.
    """
    if not isinstance(body, Mapping):
        raise LimitValidationError(issue("", f"Expected object, received {json_type(body)}"))
    try:
        limit = Limit.model_validate(dict(body))
    except ValidationError as err:
        raise LimitValidationError(join_issues(issues_from(err))) from None
    if space_id is not None and limit.scope_kind == "space" and limit.scope_id != space_id:
        raise LimitValidationError(issue("scope.space", "must be the space the limit belongs to"))
    return limit


# --- who a limit covers -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Caller:
    """What a request is, for matching limits: its space, connector, user and API key."""

    space_id: str
    connector_id: str
    user: str | None = None
    api_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredLimit:
    """A limit as stored: its id and space around the definition."""

    id: str
    space_id: str
    limit: Limit
    created_at: datetime
    updated_at: datetime

    def applies_to(self, caller: Caller) -> bool:
        """A limit covers requests of its own space that match its scope."""
        if caller.space_id != self.space_id:
            return False
        wanted = {
            "connector": caller.connector_id,
            "user": caller.user,
            "api_key": caller.api_key_id,
            "space": caller.space_id,
        }[self.limit.scope_kind]
        return wanted is not None and wanted == self.limit.scope_id

    def is_on_connector(self, connector_id: str) -> bool:
        """The limit's scope is this connector itself (a route's target checks only these)."""
        return self.limit.scope_kind == "connector" and self.limit.scope_id == connector_id

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, **self.limit.to_dict()}


# --- calendar windows (UTC) -------------------------------------------------------------------
def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the limits; use an aware UTC datetime")
    return at.astimezone(UTC)


def window_start(window: WindowKind, at: datetime) -> datetime:
    """The start of the calendar window (UTC) that contains ``at``."""
    at = _utc(at)
    if window == "minute":
        return at.replace(second=0, microsecond=0)
    if window == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_window_start(window: WindowKind, at: datetime) -> datetime:
    """The start of the window after the one containing ``at``: when a refusal lifts."""
    start = window_start(window, at)
    if window == "minute":
        return start + timedelta(minutes=1)
    if window == "day":
        return start + timedelta(days=1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def retry_after_seconds(window: WindowKind, now: datetime) -> int:
    """``Retry-After``: whole seconds until the next window, rounded up (at least 1)."""
    remaining = (next_window_start(window, now) - _utc(now)).total_seconds()
    return max(1, math.ceil(remaining))


# --- outcomes ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Refusal:
    """Which limit refused a request, what it reached, and when it admits again."""

    limit_id: str
    limit_name: str
    cap: Cap
    retry_after: int  # whole seconds, for the Retry-After header

    @property
    def message(self) -> str:
        return f'Limit "{self.limit_name}" reached: {self.cap.describe()}'

    @property
    def is_budget(self) -> bool:
        """Day and month figures are budgets (``insufficient_quota`` on ``/v1``);
        per-minute ones are rates (``rate_limit_error``)."""
        return self.cap.window != "minute"


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to "may this request run?".

    ``store_unavailable``: the counters could not be reached and the outage policy decided
    (admitted when failing open; refused, with ``retry_after``, when failing closed).
    """

    admitted: bool
    refusal: Refusal | None = None
    store_unavailable: bool = False
    retry_after: int | None = None

    @classmethod
    def ok(cls) -> Admission:
        return _ADMITTED


_ADMITTED = Admission(admitted=True)
