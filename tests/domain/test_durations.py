"""The one duration grammar: Kibana's loose spelling for settings, date math for the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmrelay.domain.durations import DATE_MATH_UNITS, Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        (" 1.5 H ", timedelta(hours=1.5)),
        ("12w", timedelta(weeks=12)),
        ("1500ms", timedelta(milliseconds=1500)),
        ("0s", timedelta(0)),
    ],
)
def test_loose_spelling(text: str, expected: timedelta) -> None:
    duration = parse_duration(text)
    assert duration is not None and duration.as_timedelta() == expected


@pytest.mark.parametrize("text", ["", "5", "soon", "60 parsecs", "-5s", "1e3s", "5 m s", "5ſ"])
def test_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_units_and_default_unit_are_the_callers() -> None:
    assert parse_duration("2d", units=("ms", "s")) is None
    assert parse_duration("1500", default_unit="ms") == Duration("1500", "ms")
    assert parse_duration("1500") is None
    assert parse_duration("1.9999s", default_unit="ms") == Duration("1.9999", "s")
    assert Duration("1.9999", "s").as_milliseconds() == 1999


@pytest.mark.parametrize("text", ["24H", "1M", "1.5h", " 5h", "5 h", "5ms", "h", "5"])
def test_date_math_is_strict(text: str) -> None:
    assert parse_duration(text, units=DATE_MATH_UNITS, date_math=True) is None


def test_date_math_keeps_the_number_as_written() -> None:
    duration = parse_duration("007h", units=DATE_MATH_UNITS, date_math=True)
    assert duration == Duration("007", "h")
    assert duration.as_timedelta() == timedelta(hours=7)


def test_an_absurd_length_is_a_value_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="too long"):
        Duration("9" * 30, "d").as_timedelta()
    with pytest.raises(ValueError, match="too long"):
        Duration("9" * 400, "ms").as_milliseconds()
