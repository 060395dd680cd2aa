"""A route's answer waits for its attempts' events and its own to be durable, and queues
them together: one group write of the journal per call, not one per event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from llmrelay.execution.records import deferring_durability, settle
from llmrelay.service import ExecutionContext, Relay
from llmrelay.store import journal_files as journal_module
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import make_settings
from tests.routes.conftest import route_in_process

RUN = {
    "subAction": "run",
    "subActionParams": {"body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})},
}


async def test_settle_inside_deferring_hands_the_wait_to_the_opener() -> None:
    loop = asyncio.get_running_loop()
    inner, outer = loop.create_future(), loop.create_future()
    collected: list[object] = []
    with deferring_durability(collected):  # type: ignore[arg-type]
        await asyncio.wait_for(settle(inner), 1)  # returns at once: not resolved yet
    assert collected == [inner]
    waiting = asyncio.ensure_future(settle(outer))  # outside: waits again
    await asyncio.sleep(0)
    assert not waiting.done()
    outer.set_result(None)
    await asyncio.wait_for(waiting, 1)
    inner.set_result(None)


async def test_a_route_call_takes_one_journal_write_for_both_events(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real = journal_module._datasync
    monkeypatch.setattr(journal_module, "_datasync", lambda fd: (syncs.append(fd), real(fd)))
    async with Relay.open(make_settings(tmp_path / "home")) as relay:
        _, route = await route_in_process(relay, upstream)
        await relay.execute("default", route.id, RUN, ExecutionContext())  # warm up
        before = len(syncs)
        calls = 20
        for _ in range(calls):
            assert (await relay.execute("default", route.id, RUN, ExecutionContext())).ok
        # two events per call (the target's and the route's): awaited one after the other
        # they would take two writes each; queued together they share one (rarely the
        # journal thread wakes between the two appends: allow for it)
        assert len(syncs) - before <= calls * 3 // 2
