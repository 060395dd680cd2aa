"""Kibana event-log documents (spec §4.2) built from an :class:`ExecutionRecord`.

Pure functions. Field names and messages are Kibana's; ``event.id`` is derived from the
execution id (``<uuid>:execute-start`` / ``<uuid>:execute``), so writing a document twice,
e.g. when a spool file is replayed, is recognisably the same event.

Fields of our own, under ``llmrelay`` (not in Kibana's mapping):

- ``llmrelay.sub_action``: the sub-action run (``run``, ``invokeAI``, ``stream``...).
- ``llmrelay.endpoint`` (``execute`` only): the OpenAI API called: ``chat`` (every
  sub-action and ``/v1/chat/completions``), ``embeddings``, ``completions`` or
  ``responses``.
- ``llmrelay.model``: the model sent upstream or reported back, when known.
- ``llmrelay.usage_source`` (``execute`` only): where ``gen_ai.usage`` came from:
  ``response``, ``stream``, ``estimated``; ``missing`` when no usage is recorded.
- ``llmrelay.tokenizer`` (``execute`` only, estimated usage): what counted the tokens:
  ``cl100k_base`` / ``o200k_base`` (local), or ``server`` (the upstream's ``/tokenize``).
- ``llmrelay.stream_cancelled`` (``execute`` only): the caller stopped a stream early.
- ``llmrelay.upstream_request_id`` (``execute`` only, when the upstream sent one): its id
  of the request (``x-request-id``, or Azure's ``apim-request-id``).
- ``llmrelay.refused_by`` (``execute`` only): the id of the limit that refused the request.
- ``llmrelay.cost_usd`` (``execute`` only): the execution's cost in USD from its recorded
  usage and the model's price (``domain/prices.py``); ``null`` when the model has no price.
- ``llmrelay.route_id``: the route (``.llmrelay-route``) the caller named, on the events
  of the connectors it ran (their tokens count for the route) and of inner routes.
- ``llmrelay.route`` (a route's own ``execute``): ``attempts`` (``connector_id``,
  ``outcome``, ``duration_ms``, ``error``) and ``target``, the connector that answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llmrelay.domain.events import ExecutionRecord
from llmrelay.domain.prices import usd_number

ECS_VERSION = "1.8.0"
DEFAULT_SPACE = "default"


_last_second: list[tuple[int, str]] = [(-1, "")]  # (epoch second, its formatted prefix)


def iso_from_ns(ns: int) -> str:
    """``2024-01-01T00:00:00.000Z`` (milliseconds, like Kibana) from epoch nanoseconds.

    The formatted second is remembered: every event of a busy second shares it, and
    ``strftime`` was the largest cost of building a document.
    """
    second = ns // 1_000_000_000
    cached_second, prefix = _last_second[0]
    if second != cached_second:
        moment = datetime.fromtimestamp(second, tz=UTC)
        prefix = moment.strftime("%Y-%m-%dT%H:%M:%S.")
        _last_second[0] = (second, prefix)
    return f"{prefix}{(ns // 1_000_000) % 1000:03d}Z"


def _label(record: ExecutionRecord) -> str:
    return f"{record.connector_type_id}:{record.connector_id}: {record.connector_name}"


def _saved_object(record: ExecutionRecord) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "rel": "primary",
        "type": "action",
        "id": record.connector_id,
        "type_id": record.connector_type_id,
    }
    if record.space_id != DEFAULT_SPACE:
        ref["namespace"] = record.space_id
    if record.is_preconfigured:
        ref["space_agnostic"] = True
    return ref


def _base(
    record: ExecutionRecord, *, action: str, timestamp_ns: int, server_uuid: str, version: str
) -> dict[str, Any]:
    execution: dict[str, Any] = {
        "uuid": record.execution_id,
        "source": record.source.lower(),
        "usage": {"request_body_bytes": record.request_body_bytes},
    }
    doc: dict[str, Any] = {
        "@timestamp": iso_from_ns(timestamp_ns),
        "event": {
            "provider": "actions",
            "action": action,
            "kind": "action",
            "start": iso_from_ns(record.started_ns),
            "id": f"{record.execution_id}:{action}",
        },
        "kibana": {
            "saved_objects": [_saved_object(record)],
            "space_ids": [record.space_id],
            "action": {
                "name": record.connector_name,
                "id": record.connector_id,
                "type_id": record.connector_type_id,
                "execution": execution,
            },
            "server_uuid": server_uuid,
            "version": version,
        },
        "ecs": {"version": ECS_VERSION},
        "llmrelay": {"sub_action": record.sub_action},
    }
    if record.model:
        doc["llmrelay"]["model"] = record.model
    if record.route_id:
        doc["llmrelay"]["route_id"] = record.route_id
    if record.user_name:
        doc["user"] = {"name": record.user_name}
    if record.api_key_id:
        doc["kibana"]["user_api_key"] = {"id": record.api_key_id, "name": record.api_key_name}
    return doc


def start_document(record: ExecutionRecord, *, server_uuid: str, version: str) -> dict[str, Any]:
    """The ``execute-start`` document, written before the outbound call."""
    doc = _base(
        record,
        action="execute-start",
        timestamp_ns=record.started_ns,
        server_uuid=server_uuid,
        version=version,
    )
    doc["message"] = f"action started: {_label(record)}"
    return doc


def execute_base(record: ExecutionRecord, *, server_uuid: str, version: str) -> dict[str, Any]:
    """The part of a record's ``execute`` document that its start already fixes, built
    ahead (a route's own record, whose start fields never change, while its target waits
    for the upstream); hand it to :func:`execute_document` once, as ``base``."""
    return _base(
        record,
        action="execute",
        timestamp_ns=record.started_ns,
        server_uuid=server_uuid,
        version=version,
    )


def execute_document(
    record: ExecutionRecord,
    *,
    server_uuid: str,
    version: str,
    cost: Decimal | None = None,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The final ``execute`` document: timing, outcome, usage or error, and ``cost`` (of
    ``record.recorded_usage``; None: the model has no price). ``base``: this record's
    :func:`execute_base`, completed in place."""
    doc = (
        base if base is not None else execute_base(record, server_uuid=server_uuid, version=version)
    )
    doc["@timestamp"] = iso_from_ns(record.ended_ns)
    event = doc["event"]
    event["end"] = iso_from_ns(record.ended_ns)
    event["duration"] = str(record.duration_ns)  # Kibana's event log: a string of nanoseconds
    label = _label(record)
    usage_recorded = record.outcome == "success" and record.usage.known
    if record.outcome == "success":
        event["outcome"] = "success"
        doc["message"] = f"action executed: {label}"
    elif record.outcome == "failure":
        event["outcome"] = "failure"
        doc["message"] = f"action execution failure: {label}"
    else:  # the executor never settled the result
        event["outcome"] = "failure"
        doc["message"] = f'action execution returned unexpected result: {label}: "unknown"'
    if record.outcome != "success" and record.error_message:
        doc["error"] = {"message": record.error_message}
    if usage_recorded:
        doc["kibana"]["action"]["execution"]["gen_ai"] = {"usage": record.usage.as_gen_ai()}
    doc["llmrelay"]["usage_source"] = record.usage.usage_source if usage_recorded else "missing"
    if usage_recorded and record.usage.usage_source == "estimated" and record.usage.tokenizer:
        doc["llmrelay"]["tokenizer"] = record.usage.tokenizer
    doc["llmrelay"]["stream_cancelled"] = record.cancelled
    doc["llmrelay"]["endpoint"] = record.endpoint
    doc["llmrelay"]["cost_usd"] = usd_number(cost)
    if record.upstream_request_id:
        doc["llmrelay"]["upstream_request_id"] = record.upstream_request_id
    if record.refused_by:
        doc["llmrelay"]["refused_by"] = record.refused_by
    if record.route_attempts is not None:
        route: dict[str, Any] = {"attempts": [a.as_document() for a in record.route_attempts]}
        if record.route_target:
            route["target"] = record.route_target
        doc["llmrelay"]["route"] = route
    return doc


def duration_ns(doc: Mapping[str, Any]) -> int | None:
    """``event.duration`` in nanoseconds: a string, as Kibana's event log holds it, or an
    integer (documents llmrelay wrote before it did the same); None when absent or not a
    whole number."""
    event = doc.get("event")
    value = event.get("duration") if isinstance(event, Mapping) else None
    if type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    return None
