"""Execution ids: UUIDs (Kibana's ``execution.uuid``) that sort by creation time, so the
event log's unique index on ``event.id`` grows at its end."""

from __future__ import annotations

import dataclasses
import time
import uuid

from llmrelay.execution.results import ExecutionContext, new_execution_id


def test_execution_ids_are_version_7_uuids() -> None:
    parsed = uuid.UUID(ExecutionContext().execution_id)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == ExecutionContext(execution_id=str(parsed)).execution_id


def test_execution_ids_sort_by_creation_time_and_do_not_repeat() -> None:
    ids = []
    for _ in range(5):
        ids += [new_execution_id() for _ in range(200)]
        time.sleep(0.002)  # a new millisecond: the ordering is by time, not by counter
    firsts = ids[::200]
    assert firsts == sorted(firsts)
    assert len(set(ids)) == len(ids)
    assert abs(int(ids[-1][:8] + ids[-1][9:13], 16) - time.time() * 1000) < 60_000


def test_an_attempt_context_keeps_every_field_but_its_execution_id_and_route() -> None:
    """``for_attempt`` copies fields by hand (for speed): every field, present and future,
    must carry over except the two it sets."""
    values = {f.name: f"value of {f.name}" for f in dataclasses.fields(ExecutionContext)}
    ctx = ExecutionContext(**values)  # type: ignore[arg-type]
    attempt = ctx.for_attempt("the-route")
    assert attempt.route_id == "the-route"
    assert attempt.execution_id not in (ctx.execution_id, "")
    assert attempt == dataclasses.replace(
        ctx, execution_id=attempt.execution_id, route_id="the-route"
    )
