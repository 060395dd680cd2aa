"""Limit definitions (exact 400 messages), who a limit covers, and the calendar windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay.domain.limits import (
    FIGURES,
    Caller,
    Cap,
    Limit,
    LimitValidationError,
    Refusal,
    StoredLimit,
    next_window_start,
    parse_limit,
    retry_after_seconds,
    window_start,
)

BASE = {"name": "team a", "scope": {"user": "alice"}}
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _error(body: object, **kwargs: str) -> str:
    with pytest.raises(LimitValidationError) as caught:
        parse_limit(body, **kwargs)
    return str(caught.value)


# --- valid limits -------------------------------------------------------------------------
def test_a_limit_with_every_figure() -> None:
    body = {
        **BASE,
        "requests_per_minute": 60,
        "tokens_per_minute": 10_000,
        "tokens_per_day": 1_000_000,
        "tokens_per_month": 20_000_000,
        "cost_usd_per_day": 5,
        "cost_usd_per_month": 99.5,
    }
    limit = parse_limit(body)
    assert limit.to_dict() == {**body, "cost_usd_per_day": 5.0}
    assert isinstance(limit.cost_usd_per_day, float)
    assert (limit.scope_kind, limit.scope_id) == ("user", "alice")
    assert limit.windows() == ("minute", "day", "month")
    assert [cap.field for cap in limit.caps()] == [field for field, _, _ in FIGURES]


@pytest.mark.parametrize("kind", ["connector", "user", "api_key", "space"])
def test_each_scope(kind: str) -> None:
    limit = parse_limit({"name": "n", "scope": {kind: "x1"}, "tokens_per_day": 10})
    assert (limit.scope_kind, limit.scope_id) == (kind, "x1")
    assert limit.windows() == ("day",)


def test_null_figures_mean_no_limit_and_integral_floats_are_integers() -> None:
    limit = parse_limit({**BASE, "requests_per_minute": 10.0, "tokens_per_day": None})
    assert limit.requests_per_minute == 10 and isinstance(limit.requests_per_minute, int)
    assert limit.tokens_per_day is None
    assert limit.to_dict() == {**BASE, "requests_per_minute": 10}


# --- refused bodies: the message names the field -----------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x", "Expected object, received string"),
        ({}, "[name]: Required\n- [scope]: Required"),
        (
            BASE,
            "At least one of requests_per_minute, tokens_per_minute, tokens_per_day, "
            "tokens_per_month, cost_usd_per_day, cost_usd_per_month must be given "
            "(a positive number)",
        ),
        (
            {**BASE, "requests_per_minute": None},
            "At least one of requests_per_minute, tokens_per_minute, tokens_per_day, "
            "tokens_per_month, cost_usd_per_day, cost_usd_per_month must be given "
            "(a positive number)",
        ),
        (
            {**BASE, "name": " ", "tokens_per_day": 1},
            "[name]: must not be empty or whitespace only",
        ),
        ({**BASE, "name": None, "tokens_per_day": 1}, "[name]: Expected string, received null"),
        ({**BASE, "name": 7, "tokens_per_day": 1}, "[name]: Expected string, received number"),
        (
            {**BASE, "name": "n" * 257, "tokens_per_day": 1},
            "[name]: String must contain at most 256 character(s)",
        ),
        (
            {**BASE, "scope": "alice", "tokens_per_day": 1},
            "[scope]: Expected object, received string",
        ),
        (
            {**BASE, "scope": {}, "tokens_per_day": 1},
            '[scope]: Expected exactly one of "connector", "user", "api_key", "space"',
        ),
        (
            {**BASE, "scope": {"user": "a", "connector": "c"}, "tokens_per_day": 1},
            '[scope]: Expected exactly one of "connector", "user", "api_key", "space"',
        ),
        (
            {**BASE, "scope": {"team": "a"}, "tokens_per_day": 1},
            '[scope]: Unrecognized keys: "team"; expected exactly one of "connector", "user", '
            '"api_key", "space"',
        ),
        (
            {**BASE, "scope": {"user": None}, "tokens_per_day": 1},
            '[scope]: "user" must be a string, received null',
        ),
        (
            {**BASE, "scope": {"api_key": ""}, "tokens_per_day": 1},
            '[scope]: "api_key" must not be empty or whitespace only',
        ),
        (
            {**BASE, "requests_per_minute": 1.5},
            "[requests_per_minute]: Expected integer, received float",
        ),
        (
            {**BASE, "tokens_per_day": "100"},
            "[tokens_per_day]: Expected number, received string",
        ),
        (
            {**BASE, "tokens_per_month": True},
            "[tokens_per_month]: Expected number, received boolean",
        ),
        ({**BASE, "tokens_per_minute": 0}, "[tokens_per_minute]: Number must be greater than 0"),
        ({**BASE, "cost_usd_per_day": -1}, "[cost_usd_per_day]: Number must be greater than 0"),
        (
            {**BASE, "cost_usd_per_month": float("inf")},
            "[cost_usd_per_month]: Expected a finite number",
        ),
        (
            {**BASE, "requests_per_minute": 2**53 + 1},
            "[requests_per_minute]: Number must be less than or equal to 9007199254740992",
        ),
        ({**BASE, "tokens_per_day": 1, "team": "x"}, 'Unrecognized keys: "team"'),
    ],
)
def test_refused_bodies(body: object, message: str) -> None:
    assert _error(body) == message


def test_several_problems_are_listed_in_kibanas_style() -> None:
    message = _error({"name": "", "scope": {"user": "a"}, "tokens_per_day": -1, "x": 1})
    assert message == (
        "[name]: must not be empty or whitespace only\n"
        "- [tokens_per_day]: Number must be greater than 0\n"
        '- Unrecognized keys: "x"'
    )


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(), st.lists, max_leaves=4))
def test_no_message_shows_a_python_value(value: object) -> None:
    for field in ("name", "scope", "requests_per_minute", "cost_usd_per_day"):
        try:
            parse_limit({**BASE, "tokens_per_day": 1, field: value})
        except LimitValidationError as err:
            assert "None" not in str(err) and "True" not in str(err)
            assert str(err).startswith(f"[{field}]")


def test_a_space_scope_must_name_the_limits_own_space() -> None:
    body = {"name": "n", "scope": {"space": "other"}, "tokens_per_day": 1}
    assert _error(body, space_id="default") == (
        "[scope.space]: must be the space the limit belongs to"
    )
    assert parse_limit({**body, "scope": {"space": "default"}}, space_id="default")


# --- who a limit covers -------------------------------------------------------------------
def _stored(scope: dict[str, str], space_id: str = "default") -> StoredLimit:
    limit = Limit.model_validate({"name": "n", "scope": scope, "requests_per_minute": 1})
    return StoredLimit("l1", space_id, limit, T0, T0)


CALLER = Caller(space_id="default", connector_id="c1", user="alice", api_key_id="k1")


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        ({"connector": "c1"}, True),
        ({"connector": "c2"}, False),
        ({"user": "alice"}, True),
        ({"user": "bob"}, False),
        ({"api_key": "k1"}, True),
        ({"api_key": "k2"}, False),
        ({"space": "default"}, True),
        ({"space": "other"}, False),
    ],
)
def test_applies_to(scope: dict[str, str], applies: bool) -> None:
    assert _stored(scope).applies_to(CALLER) is applies


def test_a_limit_never_covers_another_space_nor_a_caller_without_that_identity() -> None:
    assert not _stored({"connector": "c1"}, space_id="other").applies_to(CALLER)
    anonymous = Caller(space_id="default", connector_id="c1")
    assert not _stored({"user": "alice"}).applies_to(anonymous)
    assert not _stored({"api_key": "k1"}).applies_to(anonymous)
    assert _stored({"connector": "c1"}).to_dict()["id"] == "l1"


# --- windows --------------------------------------------------------------------------------
AT = datetime(2031, 12, 31, 23, 59, 58, 250_000, tzinfo=UTC)


def test_window_starts_and_ends() -> None:
    assert window_start("minute", AT) == datetime(2031, 12, 31, 23, 59, tzinfo=UTC)
    assert window_start("day", AT) == datetime(2031, 12, 31, tzinfo=UTC)
    assert window_start("month", AT) == datetime(2031, 12, 1, tzinfo=UTC)
    assert next_window_start("minute", AT) == datetime(2032, 1, 1, tzinfo=UTC)
    assert next_window_start("day", AT) == datetime(2032, 1, 1, tzinfo=UTC)
    assert next_window_start("month", AT) == datetime(2032, 1, 1, tzinfo=UTC)
    feb = datetime(2032, 2, 10, tzinfo=UTC)
    assert next_window_start("month", feb) == datetime(2032, 3, 1, tzinfo=UTC)


def test_windows_are_utc_whatever_the_offset_of_the_time_given() -> None:
    tokyo = datetime(2030, 1, 1, 8, 30, tzinfo=timezone(timedelta(hours=9)))  # 23:30 UTC
    assert window_start("day", tokyo) == datetime(2029, 12, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        window_start("day", datetime(2030, 1, 1))


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_seconds("minute", AT) == 2  # 1.75 s left
    assert retry_after_seconds("minute", datetime(2030, 1, 1, 0, 0, tzinfo=UTC)) == 60
    almost = datetime(2030, 1, 1, 0, 0, 59, 999_999, tzinfo=UTC)
    assert retry_after_seconds("minute", almost) == 1
    assert retry_after_seconds("day", datetime(2030, 1, 1, 23, tzinfo=UTC)) == 3600
    assert retry_after_seconds("month", datetime(2030, 2, 28, tzinfo=UTC)) == 86400


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_every_time_lies_in_its_window(naive: datetime) -> None:
    at = naive.replace(tzinfo=UTC)
    for kind in ("minute", "day", "month"):
        start, end = window_start(kind, at), next_window_start(kind, at)
        assert start <= at < end
        assert window_start(kind, end) == end  # windows tile time: the next starts at the end
        assert 1 <= retry_after_seconds(kind, at) <= (end - start).total_seconds()


# --- refusals -------------------------------------------------------------------------------
def test_refusal_messages_and_kinds() -> None:
    rate = Refusal("l1", "team a", Cap("requests_per_minute", "requests", "minute", 60), 12)
    assert rate.message == 'Limit "team a" reached: 60 requests per minute'
    assert not rate.is_budget
    budget = Refusal("l1", "team a", Cap("cost_usd_per_month", "cost_usd", "month", 2.5), 9)
    assert budget.message == 'Limit "team a" reached: 2.5 USD per month'
    assert budget.is_budget
