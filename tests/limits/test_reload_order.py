"""The limits a process knows after a change made in it: a background reload whose read
began before the change must not land after the change's own reload."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from llmrelay.domain.limits import StoredLimit
from llmrelay.service.limits import LimitService
from llmrelay.store.limit_guard import OutagePolicy
from llmrelay.store.limit_shares import LocalShares


class _SlowFirstRead:
    """A limit repository whose first ``list_all`` (the background reload) answers with
    what it read, but only once released; later reads answer at once."""

    def __init__(self) -> None:
        self.limits: list[StoredLimit] = []
        self.first_read_taken = asyncio.Event()
        self.release_first_read = asyncio.Event()
        self._reads = 0

    async def list_all(self) -> list[StoredLimit]:
        self._reads += 1
        seen = list(self.limits)
        if self._reads == 2:  # the first after start: the background one
            self.first_read_taken.set()
            await self.release_first_read.wait()
        return seen

    async def create(self, space_id: str, limit: object) -> StoredLimit:
        now = datetime.now(UTC)
        stored = StoredLimit("l1", space_id, limit, now, now)  # type: ignore[arg-type]
        self.limits.append(stored)
        return stored


class _NoCounters:
    async def current(self, limits: object, now: object) -> dict[str, dict[str, object]]:
        return {"l1": {}}

    async def add(self, rows: object) -> None:
        return None


async def test_a_change_made_here_outlives_a_background_reload_begun_before_it() -> None:
    repository = _SlowFirstRead()
    shares = LocalShares(_NoCounters(), OutagePolicy())  # type: ignore[arg-type]
    service = LimitService(repository, shares, revalidate_after=0.01)  # type: ignore[arg-type]
    await service.start(lambda record: None)
    try:
        await asyncio.wait_for(repository.first_read_taken.wait(), 5)  # it read: no limits
        body = {"name": "day", "scope": {"connector": "c1"}, "tokens_per_day": 10}
        creating = asyncio.ensure_future(service.create("default", body))
        await asyncio.sleep(0.05)
        repository.release_first_read.set()  # the stale read lands now
        await asyncio.wait_for(creating, 5)
        known = service._by_space.get("default", ())
        assert [stored.id for stored in known] == ["l1"]
    finally:
        repository.release_first_read.set()
        await service.stop()
