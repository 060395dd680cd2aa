"""``llmrelay events`` shows durations of Kibana-shaped documents (a string of nanoseconds)
and of documents an older llmrelay answered with (an integer)."""

from __future__ import annotations

import pytest

from llmrelay.cli.usage import _duration


@pytest.mark.parametrize(
    ("duration", "shown"),
    [("1234567", "1.2 ms"), (1_234_567, "1.2 ms"), ("0", "0.0 ms"), (None, "-"), ("x", "-")],
)
def test_duration_column(duration: object, shown: str) -> None:
    assert _duration({"event": {"duration": duration}}) == shown
    assert _duration({}) == "-"
