"""The pure part of running a route: the order in which its connectors are tried, which
failures are worth another try, how long to wait before one, and the circuit breaker.

No I/O here: the service walks the order (``service/route_runner.py``) and reports each
attempt back to the :class:`CircuitBreaker`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from llmrelay.domain.routes import RouteConfig
from llmrelay.errors import (
    LlmrelayError,
    UpstreamConnectionError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)

__all__ = [
    "BREAKER_THRESHOLD",
    "RETRY_AFTER_CAP_SECONDS",
    "CircuitBreaker",
    "attempt_order",
    "is_retryable",
    "retry_delay",
    "weighted_order",
]

BREAKER_THRESHOLD = 3
"""Failed attempts in a row after which a target is skipped for ``cooldownSeconds``."""

RETRY_AFTER_CAP_SECONDS = 10.0
"""The longest ``retry-after`` honoured before retrying the same target."""


def is_retryable(err: LlmrelayError) -> bool:
    """A connection error, a timeout, 429 or 5xx: another try (or target) may answer."""
    if isinstance(err, UpstreamStatusError):
        return err.status == 429 or err.status >= 500
    return isinstance(err, UpstreamConnectionError | UpstreamTimeoutError)


def retry_delay(
    err: LlmrelayError, *, cap: float = RETRY_AFTER_CAP_SECONDS, now: float | None = None
) -> float:
    """Seconds to wait before retrying after ``err``: the upstream's ``retry-after-ms`` or
    ``retry-after`` (seconds or an HTTP date), at most ``cap``; 0 when it sent neither."""
    headers: Mapping[str, str] = err.headers if isinstance(err, UpstreamStatusError) else {}
    lowered = {key.lower(): value for key, value in headers.items()}
    seconds: float | None = None
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        seconds = _number(millis)
        seconds = seconds / 1000 if seconds is not None else None
    value = lowered.get("retry-after")
    if seconds is None and value is not None:
        seconds = _number(value)
        if seconds is None:
            try:
                moment = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and moment.tzinfo is not None:
                seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds is None or seconds != seconds:  # absent, or NaN
        return 0.0
    return min(max(seconds, 0.0), cap)


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def weighted_order(weights: Sequence[tuple[str, int]], rng: random.Random) -> list[str]:
    """The targets in a random order where each next one is drawn by weight among those
    left: the first is target ``i`` with probability ``weight_i / sum(weights)``."""
    left = list(weights)
    order: list[str] = []
    while left:
        total = sum(weight for _, weight in left)
        point = rng.random() * total
        for index, (connector_id, weight) in enumerate(left):
            point -= weight
            if point < 0 or index == len(left) - 1:
                order.append(connector_id)
                del left[index]
                break
    return order


def attempt_order(
    config: RouteConfig,
    rng: random.Random,
    cooling: Callable[[str], bool] = lambda _: False,
) -> list[str]:
    """Every connector to try, in order: targets by weight, then fallbacks as listed, each
    once. Those ``cooling`` (breaker open) go last, so they are tried only when nothing
    else answered."""
    if len(config.targets) == 1 and not config.fallbacks:  # one to try: nothing to order
        return [config.targets[0].connectorId]
    targets = weighted_order([(t.connectorId, t.weight) for t in config.targets], rng)
    ordered = list(dict.fromkeys([*targets, *config.fallbacks]))
    ready = [connector_id for connector_id in ordered if not cooling(connector_id)]
    return ready + [connector_id for connector_id in ordered if cooling(connector_id)]


@dataclass(slots=True)
class _TargetHealth:
    failures: int = 0
    open_until: float = 0.0


class CircuitBreaker:
    """Per-process health of each (route, target): ``BREAKER_THRESHOLD`` failed attempts in
    a row open it for the route's ``cooldownSeconds``; a success closes it."""

    def __init__(
        self,
        *,
        threshold: int = BREAKER_THRESHOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._clock = clock
        self._health: dict[tuple[str, str, str], _TargetHealth] = {}

    def cooling(self, key: tuple[str, str, str]) -> bool:
        """Whether the target is being skipped now. Key: (space, route id, target id)."""
        health = self._health.get(key)
        return health is not None and health.open_until > self._clock()

    def failed(self, key: tuple[str, str, str], cooldown_seconds: float) -> None:
        health = self._health.setdefault(key, _TargetHealth())
        health.failures += 1
        if health.failures >= self._threshold:
            health.open_until = self._clock() + cooldown_seconds
            health.failures = self._threshold - 1  # after the cooldown, one failure re-opens

    def succeeded(self, key: tuple[str, str, str]) -> None:
        self._health.pop(key, None)
