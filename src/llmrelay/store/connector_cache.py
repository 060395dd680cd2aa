"""Per-process cache of connectors ready to execute, coherent across processes.

The request path must not touch the database except for this lookup, and a hit touches it
not at all. Entries are dropped at once when any process changes the connector
(``invalidate``, driven by PostgreSQL ``LISTEN``/``NOTIFY`` and by local changes). As a
safety net that needs no notification (SQLite, a missed ``NOTIFY``), an entry older than
``revalidate_after`` seconds is checked against the store's revision (one indexed
single-row query) before it is used again. So a change made anywhere is seen here within
``revalidate_after`` plus one query, and usually within milliseconds.

When the store cannot be reached for that check, the cached entry keeps being served (the
outage is logged once): requests keep working through a database restart. A connector
not cached yet cannot be served without the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from llmrelay.errors import StoreError
from llmrelay.store.connectors import ConnectorRepository, Revision, StoredConnector

logger = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str]


@dataclass(slots=True)
class _Entry(Generic[T]):
    revision: Revision
    value: T
    checked: float  # monotonic time the revision was last confirmed; -inf: check next use


class ConnectorCache(Generic[T]):
    """``get(space, id)`` -> ``build(stored connector)``, cached as described above."""

    def __init__(
        self,
        repository: ConnectorRepository,
        build: Callable[[StoredConnector], T],
        *,
        revalidate_after: float = 1.0,
    ) -> None:
        if revalidate_after < 0:
            raise ValueError("revalidate_after must be >= 0")
        self._repository = repository
        self._build = build
        self._revalidate_after = revalidate_after
        self._entries: dict[Key, _Entry[T]] = {}
        self._loading: dict[Key, asyncio.Future[T]] = {}
        self._generation = 0  # bumped by every invalidation: loads racing one don't trust it
        self._store_down = False

    @property
    def revalidate_after(self) -> float:
        return self._revalidate_after

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, space_id: str, connector_id: str) -> T:
        key = (space_id, connector_id)
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.checked < self._revalidate_after:
            return entry.value
        # one load or check per key at a time, shared by every request waiting for it
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._refresh(key, entry))
            self._loading[key] = pending
            pending.add_done_callback(partial(self._loaded, key))
        return await asyncio.shield(pending)

    def invalidate(self, space_id: str, connector_id: str) -> None:
        """Forget one connector (it changed or was deleted somewhere)."""
        self._generation += 1
        self._entries.pop((space_id, connector_id), None)

    def recheck_all(self) -> None:
        """Changes may have been missed: check every entry's revision on its next use."""
        self._generation += 1
        for entry in self._entries.values():
            entry.checked = -math.inf

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    # --- internals ---------------------------------------------------------------------

    def _loaded(self, key: Key, future: asyncio.Future[T]) -> None:
        if self._loading.get(key) is future:
            del self._loading[key]
        if not future.cancelled():
            future.exception()  # retrieved here: every waiter may have gone away

    async def _refresh(self, key: Key, entry: _Entry[T] | None) -> T:
        generation, started = self._generation, time.monotonic()
        if entry is not None:
            try:
                revision = await self._repository.revision_of(*key)
            except StoreError as err:
                self._unreachable(err)
                entry.checked = started  # serve it; try the store again after the interval
                return entry.value
            self._reachable()
            if revision == entry.revision:
                if generation == self._generation:
                    entry.checked = started
                return entry.value
            if self._entries.get(key) is entry:
                del self._entries[key]
        stored = await self._repository.get(*key)  # ConnectorNotFoundError when deleted
        value = self._build(stored)
        # an invalidation during the load may concern a newer revision than the one read
        checked = started if generation == self._generation else -math.inf
        self._entries[key] = _Entry(stored.revision, value, checked)
        return value

    def _unreachable(self, err: StoreError) -> None:
        if not self._store_down:
            self._store_down = True
            logger.warning(
                "connector store unreachable (%s); serving cached connectors until it is back",
                err,
            )

    def _reachable(self) -> None:
        if self._store_down:
            self._store_down = False
            logger.info("connector store reachable again")
