"""Durations written as ``<number><unit>`` (``90d``, ``60s``, ``1500ms``): one grammar.

Two spellings share it. Settings take Kibana's loose one: spaces, any case, a fraction
(``1.5 h``). The usage API and CLI take Elasticsearch date math (``now-24h``): a whole
number and an exact lower-case unit, where ``M`` would mean months and so is refused
rather than read as minutes. Each caller picks its units and words its own error.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_MILLIS = {unit: span // UNITS["ms"] for unit, span in UNITS.items()}
# Elasticsearch date math's units that we accept (``now-24h``); it has no ``ms``
DATE_MATH_UNITS = ("s", "m", "h", "d", "w")

_TOO_LONG = "duration too long"
_LOOSE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
_DATE_MATH = re.compile(r"(\d+)([a-zA-Z]+)")


@dataclass(frozen=True, slots=True)
class Duration:
    """A parsed duration; ``number`` is kept as written (digits, maybe a fraction)."""

    number: str
    unit: str

    def as_timedelta(self) -> timedelta:
        amount = int(self.number) if self.number.isdecimal() else float(self.number)
        try:
            return amount * UNITS[self.unit]
        except OverflowError:
            raise ValueError(_TOO_LONG) from None

    def as_milliseconds(self) -> int:
        try:
            return int(float(self.number) * _MILLIS[self.unit])
        except OverflowError:  # more digits than a float holds
            raise ValueError(_TOO_LONG) from None


def parse_duration(
    text: str,
    *,
    units: Collection[str] = tuple(UNITS),
    default_unit: str | None = None,
    date_math: bool = False,
) -> Duration | None:
    """The duration in ``text``, or ``None`` when it is not one in ``units``.

    ``default_unit`` is assumed when the unit is left out (loose spelling only);
    ``date_math`` asks for the strict Elasticsearch spelling.
    """
    match = (_DATE_MATH if date_math else _LOOSE).fullmatch(text)
    if match is None:
        return None
    number, unit = match.group(1), match.group(2)
    if not date_math:
        unit = unit.lower() or (default_unit or "")
    return Duration(number, unit) if unit in units else None
