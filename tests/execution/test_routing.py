"""The pure route logic: the order of attempts (weights, fallbacks, cooling targets last),
which failures are worth another try, how long ``retry-after`` makes us wait, and the
circuit breaker's memory."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from llmrelay.domain.routes import validate_route_config
from llmrelay.errors import (
    LlmrelayError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamTLSError,
    status_error,
)
from llmrelay.execution.routing import (
    BREAKER_THRESHOLD,
    RETRY_AFTER_CAP_SECONDS,
    CircuitBreaker,
    attempt_order,
    is_retryable,
    retry_delay,
    weighted_order,
)


def test_weighted_order_draws_the_first_by_weight() -> None:
    """Weights 1, 2, 7 over 10,000 draws: each first-place count within 6 sigma of its
    binomial mean (a seeded generator, so the test is also reproducible)."""
    rng = random.Random(1234)
    weights = [("a", 1), ("b", 2), ("c", 7)]
    draws = 10_000
    firsts = {"a": 0, "b": 0, "c": 0}
    for _ in range(draws):
        order = weighted_order(weights, rng)
        assert sorted(order) == ["a", "b", "c"]
        firsts[order[0]] += 1
    for name, weight in weights:
        p = weight / 10
        assert abs(firsts[name] - draws * p) <= 6 * math.sqrt(draws * p * (1 - p))


def test_attempt_order_targets_then_fallbacks_each_once() -> None:
    config = validate_route_config(
        {"targets": [{"connectorId": "a"}], "fallbacks": ["b", "a", "c", "b"]}
    )
    assert attempt_order(config, random.Random(0)) == ["a", "b", "c"]


def test_cooling_targets_go_last() -> None:
    config = validate_route_config({"targets": [{"connectorId": "a"}], "fallbacks": ["b", "c"]})
    order = attempt_order(config, random.Random(0), lambda cid: cid in {"a", "b"})
    assert order == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (status_error(500, "Internal Server Error", None), True),
        (status_error(503, "Service Unavailable", None), True),
        (status_error(429, "Too Many Requests", None), True),
        (status_error(400, "Bad Request", None), False),
        (status_error(401, "Unauthorized", None), False),
        (status_error(404, "Not Found", None), False),
        (UpstreamConnectionError("refused", code="ECONNREFUSED"), True),
        (UpstreamTimeoutError("timeout"), True),
        (UpstreamTLSError("bad certificate"), False),
        (UpstreamProtocolError("not JSON"), False),
        (LlmrelayError("anything else"), False),
    ],
)
def test_what_is_retried(err: LlmrelayError, expected: bool) -> None:
    assert is_retryable(err) is expected


def _limited(headers: dict[str, str]) -> LlmrelayError:
    return status_error(429, "Too Many Requests", None, headers)


def test_retry_after_seconds_milliseconds_and_dates() -> None:
    assert retry_delay(_limited({"Retry-After": "2"})) == 2.0
    assert retry_delay(_limited({"retry-after": "0.5"})) == 0.5
    assert retry_delay(_limited({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC), usegmt=True)
    assert retry_delay(_limited({"retry-after": date}), now=now.timestamp()) == 3.0


def test_retry_after_is_capped_and_nonsense_is_no_wait() -> None:
    assert retry_delay(_limited({"retry-after": "3600"})) == RETRY_AFTER_CAP_SECONDS
    assert retry_delay(_limited({"retry-after": "-5"})) == 0.0
    assert retry_delay(_limited({"retry-after": "soon"})) == 0.0
    assert retry_delay(_limited({"retry-after": "nan"})) == 0.0
    assert retry_delay(_limited({})) == 0.0
    assert retry_delay(UpstreamConnectionError("refused")) == 0.0


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_in_a_row_and_cools_down() -> None:
    clock = _Clock()
    breaker = CircuitBreaker(clock=clock)
    key = ("default", "route", "a")
    for _ in range(BREAKER_THRESHOLD - 1):
        breaker.failed(key, 30)
    assert not breaker.cooling(key)
    breaker.failed(key, 30)
    assert breaker.cooling(key)
    assert not breaker.cooling(("default", "route", "b"))
    assert not breaker.cooling(("default", "other-route", "a"))
    clock.now += 30.5
    assert not breaker.cooling(key)
    breaker.failed(key, 30)  # still failing after the cooldown: open again at once
    assert breaker.cooling(key)


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(clock=_Clock())
    key = ("default", "route", "a")
    for _ in range(BREAKER_THRESHOLD - 1):
        breaker.failed(key, 30)
    breaker.succeeded(key)
    breaker.failed(key, 30)
    assert not breaker.cooling(key)
