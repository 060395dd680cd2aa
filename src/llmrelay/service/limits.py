"""Limits: their API per space (definitions with current use) and their enforcement on
both doors (``_execute`` and ``/v1``), see docs/limits.md.

The request path reads the space's limits from memory: a request no limit covers costs a
dict lookup and nothing else. The cache is reloaded at once after a change made here and,
for changes made by other processes, by a background task every ``revalidate_after``
(``llmrelay.connectorCache.revalidateAfter``): requests never wait for that read (they did
at first, and every request arriving during the read waited with it: 70 us per request on
average at c=16 on SQLite). With ``revalidate_after`` 0 each request waits for a fresh read,
shared by the requests that arrive meanwhile. Admission and accounting go through the
process's local shares (``store/limit_shares.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from llmrelay.domain.connector_types import Runnable
from llmrelay.domain.events import Endpoint, ExecutionRecord
from llmrelay.domain.limits import Admission, Caller, Refusal, StoredLimit, parse_limit
from llmrelay.errors import LimitExceededError, LimitsUnavailableError, StoreError
from llmrelay.execution.records import Durable, new_record, settle
from llmrelay.execution.results import ExecutionContext
from llmrelay.store.limit_shares import LocalShares
from llmrelay.store.limits import LimitRepository

__all__ = ["LimitService"]

log = logging.getLogger("llmrelay.limits")

_NONE: tuple[StoredLimit, ...] = ()
_CallerKey = tuple[str, str, str | None, str | None, str | None]  # ... and the route
_MAX_CALLERS = 10_000
_View = dict[str, object]
_Views = list[_View]  # (``list`` is a method name in the class below)


class LimitService:
    """``relay.limits``: list/get/create/update/delete a space's limits; admit and count
    executions."""

    def __init__(
        self,
        repository: LimitRepository,
        shares: LocalShares,
        *,
        revalidate_after: float,
    ) -> None:
        self._repository = repository
        self._shares = shares
        self._revalidate_after = revalidate_after
        self._by_space: dict[str, tuple[StoredLimit, ...]] = {}
        # (space, connector, user, API key) -> the limits covering such a request
        self._covering: dict[_CallerKey, tuple[StoredLimit, ...]] = {}
        # (space, connector) -> the limits with that connector as scope (a route's target)
        self._of_connector: dict[tuple[str, str], tuple[StoredLimit, ...]] = {}
        self._reloading: asyncio.Task[None] | None = None
        self._reload_failed = False
        self._revalidating: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._on_refusal: Callable[[ExecutionRecord], Durable] = lambda record: None

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, on_refusal: Callable[[ExecutionRecord], Durable]) -> None:
        """Load every space's limits and start counting; ``on_refusal`` gets the
        ``execute`` record of each refused request (the event log) and returns what the
        refusal waits for before it is answered (the record made durable)."""
        self._on_refusal = on_refusal
        await self._reload()
        self._shares.start()
        if self._revalidate_after > 0:
            self._revalidating = asyncio.get_running_loop().create_task(
                self._revalidate_forever(), name="llmrelay-limits-revalidate"
            )

    async def _revalidate_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._revalidate_after):
                    await self._stopping.wait()
            if not self._stopping.is_set():
                await self._checked_reload()

    async def stop(self) -> None:
        # a reload in flight ends first: cancelled inside its read, it could leave the
        # store's connection unusable for the final flush of the counts below
        self._stopping.set()
        if self._revalidating is not None:
            await self._revalidating
        if self._reloading is not None:
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloading
        await self._shares.stop()

    async def _reload(self) -> None:
        # one at a time: a background read that began before a change made here must not
        # land after the change's own reload (the limit would be unknown until the next)
        async with self._reload_lock:
            by_space: dict[str, list[StoredLimit]] = {}
            for stored in await self._repository.list_all():
                by_space.setdefault(stored.space_id, []).append(stored)
            self._by_space = {space: tuple(found) for space, found in by_space.items()}
            self._covering = {}
            self._of_connector = {}

    async def _checked_reload(self) -> None:
        try:
            await self._reload()
        except StoreError as err:
            if not self._reload_failed:
                log.warning("limits: cannot reload the limits (%s); enforcing the known ones", err)
            self._reload_failed = True
        else:
            if self._reload_failed:
                log.warning("limits: reloaded the limits again")
            self._reload_failed = False

    async def _fresh(self) -> None:
        """With ``revalidate_after`` 0, reload the limits first (one read, shared by every
        request waiting for it; the known ones stay when the store does not answer)."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(
                self._checked_reload(), name="llmrelay-limits-reload"
            )
        await asyncio.shield(self._reloading)

    # --- the API -----------------------------------------------------------------------
    async def list(self, space_id: str) -> _Views:
        """The space's limits, each with its ``current`` use, by name."""
        return await self._views(await self._repository.list(space_id))

    async def get(self, space_id: str, limit_id: str) -> _View:
        """One limit with its current use (``LimitNotFoundError``)."""
        return (await self._views([await self._repository.get(space_id, limit_id)]))[0]

    async def create(self, space_id: str, body: object) -> _View:
        """A new limit from an API body (``LimitValidationError`` naming the field)."""
        stored = await self._repository.create(space_id, parse_limit(body, space_id=space_id))
        await self._reload()
        return (await self._views([stored]))[0]

    async def update(self, space_id: str, limit_id: str, body: object) -> _View:
        """Replace a limit's definition (``PUT``): counts go on unless the scope changes."""
        limit = parse_limit(body, space_id=space_id)
        stored = await self._repository.update(space_id, limit_id, limit)
        await self._reload()
        return (await self._views([stored]))[0]

    async def delete(self, space_id: str, limit_id: str) -> None:
        await self._repository.delete(space_id, limit_id)
        await self._reload()

    async def _views(self, limits: Sequence[StoredLimit]) -> _Views:
        current = await self._shares.current(limits, datetime.now(UTC))
        return [{**stored.to_dict(), "current": current[stored.id]} for stored in limits]

    # --- enforcement -------------------------------------------------------------------
    async def admit(
        self,
        connector: Runnable,
        context: ExecutionContext,
        sub_action: str,
        endpoint: Endpoint = "chat",
    ) -> None:
        """Count the request in every limit that covers it, or raise
        :class:`LimitExceededError` (once its ``execute`` event is durable) or, when the
        store is down and the policy is ``closed``, :class:`LimitsUnavailableError`."""
        if self._revalidate_after == 0:
            await self._fresh()
        if context.space_id not in self._by_space:  # no limit in the space: nothing to do
            return
        limits = self._limits_for(
            (context.space_id, connector.id, context.user_name, context.api_key_id, None)
        )
        if limits:
            admission = self._shares.try_admit(limits)  # the usual case: no store, no wait
            if admission is None or not admission.admitted:
                await self._decide(limits, admission, connector, context, sub_action, endpoint)

    async def admit_target(
        self, target: Runnable, context: ExecutionContext, sub_action: str, endpoint: Endpoint
    ) -> None:
        """A route's target about to be tried: only the limits on that connector itself
        (the route's door admitted the request by its user, API key and space already);
        raises as :meth:`admit`. No look-up beyond memory: the door refreshed the limits."""
        if context.space_id not in self._by_space:
            return
        key = (context.space_id, target.id)
        limits = self._of_connector.get(key)
        if limits is None:
            space = self._by_space.get(context.space_id, _NONE)
            limits = tuple(s for s in space if s.is_on_connector(target.id))
            if len(self._of_connector) >= _MAX_CALLERS:
                self._of_connector.clear()
            self._of_connector[key] = limits
        if limits:
            admission = self._shares.try_admit(limits)
            if admission is None or not admission.admitted:
                await self._decide(limits, admission, target, context, sub_action, endpoint)

    async def _decide(
        self,
        limits: tuple[StoredLimit, ...],
        admission: Admission | None,
        connector: Runnable,
        context: ExecutionContext,
        sub_action: str,
        endpoint: Endpoint,
    ) -> None:
        """What :meth:`LocalShares.try_admit` could not decide alone (None: a share to take
        from the store first), or its refusal: admit, or raise as :meth:`admit`."""
        if admission is None:
            admission = await self._shares.admit(limits)
        if admission.admitted:
            return
        if admission.refusal is None:
            raise LimitsUnavailableError(admission.retry_after or 1)
        refusal = admission.refusal
        # answered like any execution: once its event is durable (``durability: answer``)
        await settle(self._record_refusal(connector, context, sub_action, endpoint, refusal))
        raise LimitExceededError(
            refusal.message,
            limit_id=refusal.limit_id,
            retry_after=refusal.retry_after,
            budget=refusal.is_budget,
        )

    def _limits_for(self, key: _CallerKey) -> tuple[StoredLimit, ...]:
        """The limits covering a request of this caller (the same tuple until the next
        reload: the local shares key their windows on it)."""
        limits = self._covering.get(key)
        if limits is None:
            space_id, connector_id, user, api_key_id, route_id = key
            callers = [Caller(space_id, connector_id, user, api_key_id)]
            if route_id is not None and route_id != connector_id:
                callers.append(Caller(space_id, route_id, user, api_key_id))
            space = self._by_space.get(space_id, _NONE)
            limits = tuple(s for s in space if any(s.applies_to(c) for c in callers))
            if len(self._covering) >= _MAX_CALLERS:
                self._covering.clear()
            self._covering[key] = limits
        return limits

    def _record_refusal(
        self,
        connector: Runnable,
        context: ExecutionContext,
        sub_action: str,
        endpoint: Endpoint,
        refusal: Refusal,
    ) -> Durable:
        record = new_record(connector, sub_action, context, endpoint)
        record.ended_ns = record.started_ns
        record.outcome = "failure"
        record.error_message = refusal.message
        record.refused_by = refusal.limit_id
        return self._on_refusal(record)

    def finished(self, record: ExecutionRecord, cost: Decimal | None) -> None:
        """An execution ended: its tokens and cost count in the limits that cover it."""
        if record.space_id not in self._by_space:
            return
        usage = record.recorded_usage
        if not usage.known:
            return
        # a route's target counts for the target and for the route the caller named
        limits = self._limits_for(
            (
                record.space_id,
                record.connector_id,
                record.user_name,
                record.api_key_id,
                record.route_id,
            )
        )
        if limits:
            self._shares.record(
                limits,
                tokens=usage.total_tokens,
                cost_usd=cost,
            )
