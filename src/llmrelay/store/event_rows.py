"""Event documents as store rows: the queried columns, the stored text, the rollup sums.

Shared by both backends, and on the event writer's hot path (two documents per model
call), so it works on plain tuples and integers: times are epoch microseconds (UTC), the
unit ``UtcDateTime`` stores on SQLite; rollup buckets are integer floors of that. The
PostgreSQL path turns them into datetimes at its boundary (``as_datetime``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from llmrelay.errors import InvalidEventError
from llmrelay.store.limit_counters import NANO_USD
from llmrelay.store.schema import EPOCH, ROLLUP_KEY, ROLLUP_SUMS

# the order of parse_event's row tuples (tests/store/test_event_rows.py holds it to schema.py)
EVENT_COLUMNS = ("event_id", "timestamp", "space_id", "connector_id", "action", "outcome",
                 "user_name", "document")  # fmt: skip
ROLLUP_COLUMNS = (*ROLLUP_KEY, *ROLLUP_SUMS)

_MICROSECOND = timedelta(microseconds=1)
_MAX_COST_USD = 10**12  # beyond it (or not a number) a cost is not believed: unpriced
_BUCKETS = (("minute", 60_000_000), ("hour", 3_600_000_000), ("day", 86_400_000_000))


class ParsedEvent(NamedTuple):
    """One document: its ``events`` row (``EVENT_COLUMNS`` order) and, for ``execute``
    documents, what the rollups add up: (model, usage_source, endpoint, route_id, prompt,
    completion, total, cost in nano-USD or None when unpriced)."""

    row: tuple[Any, ...]
    usage: tuple[str, str, str, str, int, int, int, int | None] | None

    @property
    def event_id(self) -> str:
        return str(self.row[0])


_NOTHING: Mapping[str, Any] = {}


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one: ``_map(a).get(k)`` is ``a[k]``
    for a mapping ``a`` holding ``k``, and None otherwise (one call per level: this is
    the writer's hot path)."""
    return value if type(value) is dict or isinstance(value, Mapping) else _NOTHING


def _text(value: object) -> str:
    """A document value as column text. PostgreSQL text cannot hold NUL, and one such event
    (a model name from a request body) must not stall the log: NUL becomes U+FFFD on every
    backend alike (the stored document keeps the original)."""
    return (value if type(value) is str else str(value)).replace("\x00", "\ufffd")


def _tokens(usage: Mapping[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if type(value) is int else 0  # not bool, not float


def _nano_usd(value: Any) -> int | None:
    """``llmrelay.cost_usd`` in 1e-9 USD; None when absent or null (unpriced). Float
    arithmetic, not Decimal: it is exact to the nano-USD for any single call's cost, and
    this runs for every document the writer stores."""
    if (type(value) is float or type(value) is int) and 0 <= value < _MAX_COST_USD:
        return round(value * NANO_USD)
    return None


def epoch_us(moment: datetime) -> int:
    """An aware datetime as epoch microseconds."""
    return (moment - EPOCH) // _MICROSECOND


def as_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def parse_event(doc: Mapping[str, Any]) -> ParsedEvent:
    """The row for ``doc``; :class:`InvalidEventError` without ``event.id``/``@timestamp``."""
    event = _map(doc.get("event"))
    event_id = event.get("id")
    if type(event_id) is not str or not event_id:
        raise InvalidEventError("event document without a string event.id")
    stamp = doc.get("@timestamp")
    try:
        moment = datetime.fromisoformat(stamp if type(stamp) is str else str(stamp))
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidEventError(f"event {event_id}: missing or invalid @timestamp")
    if moment.tzinfo is None:
        raise InvalidEventError(f"event {event_id}: @timestamp has no time zone")
    kibana = _map(doc.get("kibana"))
    action_of = _map(kibana.get("action"))
    spaces = kibana.get("space_ids")
    action = event.get("action")
    outcome = event.get("outcome")
    user = _map(doc.get("user")).get("name")
    connector_id = action_of.get("id")
    row = (
        _text(event_id),
        epoch_us(moment),
        _text(spaces[0] if type(spaces) is list and spaces else "default"),
        _text(connector_id or ""),
        _text(action or ""),
        None if outcome is None else _text(outcome),
        None if user is None else _text(user),
        orjson.dumps(doc).decode(),  # JSON escapes NUL: any text column takes it
    )
    if row[4] != "execute":
        return ParsedEvent(row, None)
    usage = _map(_map(action_of.get("execution")).get("gen_ai")).get("usage") or {}
    counts = _map(usage)
    ours = _map(doc.get("llmrelay"))
    source = ours.get("usage_source")
    return ParsedEvent(
        row,
        (
            _text(ours.get("model") or ""),
            _text(source or ("missing" if not usage else "response")),
            _text(ours.get("endpoint") or "chat"),  # documents before it had chat only
            _text(ours.get("route_id") or ""),
            _tokens(counts, "prompt_tokens"),
            _tokens(counts, "completion_tokens"),
            _tokens(counts, "total_tokens"),
            _nano_usd(ours.get("cost_usd")),
        ),
    )


def stored_document(text: str | bytes) -> dict[str, Any]:
    """A stored document as the event log API returns it: ``event.duration`` is a string of
    nanoseconds, as in Kibana's event log (documents written before that held an integer)."""
    doc: dict[str, Any] = orjson.loads(text)
    event = doc.get("event")
    if type(event) is dict and type(event.get("duration")) is int:
        event["duration"] = str(event["duration"])
    return doc


def rollup_rows(parsed: Iterable[ParsedEvent]) -> list[tuple[Any, ...]]:
    """Summed rollup rows (``ROLLUP_COLUMNS`` order, buckets in epoch microseconds) for
    the ``execute`` documents among ``parsed``, sorted by key: one lock order for every
    writer (replicas on PostgreSQL), so overlapping batches cannot deadlock."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for item in parsed:
        if item.usage is None:
            continue
        model, source, endpoint, route_id, prompt, completion, total, cost = item.usage
        row = item.row
        failed = 0 if row[5] == "success" else 1
        user = row[6] or ""
        micros = row[1]
        unpriced = 1 if cost is None else 0
        for interval, width in _BUCKETS:
            key = (
                interval,
                micros - micros % width,
                row[2],
                row[3],
                model,
                user,
                source,
                endpoint,
                route_id,
            )
            summed = sums.get(key)
            if summed is None:
                sums[key] = [
                    prompt,
                    completion,
                    total,
                    1,
                    failed,
                    cost or 0,
                    total * unpriced,
                    unpriced,
                ]
            else:
                summed[0] += prompt
                summed[1] += completion
                summed[2] += total
                summed[3] += 1
                summed[4] += failed
                summed[5] += cost or 0
                summed[6] += total * unpriced
                summed[7] += unpriced
    return [(*key, *sums[key]) for key in sorted(sums)]
