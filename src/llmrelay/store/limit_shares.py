"""Admission from a local share of the shared counters, and batched accounting.

One store transaction per request costs 5-25 ms on SQLite and serialises every worker
(docs/limits.md, "Speed"), so a process takes a *share* of each window it admits into
(:meth:`LimitCounters.take`, one transaction for all of a request's windows) and admits
from memory:

- a window that caps requests (``requests_per_minute``) reserves
  ``min(share, figure - counted)`` requests in the store, so no process ever admits past
  the figure; a share is ``figure / 30`` requests (at least 1, at most ``MAX_SHARE``)
  and is topped up beside the requests when half of it is left, so a process holds at most
  1.5 shares: while others hold unused reserved requests a refusal can come early by at
  most 5% of the figure per other process;
- any other window grants ``OPEN_SHARE`` admissions; its requests are counted as they
  are admitted (batched, below);
- every take brings back the window's tokens and cost, and the share of a window with a
  token or cost figure that was used since its take is refreshed by the background task
  once it is older than ``SHARE_SECONDS`` (a window that caps requests only has nothing
  to learn: its requests are reserved); the process adds its own tokens and cost as its
  executions end and refuses from that view. So besides the one-call overshoot of every
  gateway, another process may admit calls for up to about
  ``SHARE_SECONDS + FLUSH_SECONDS`` after a token or cost figure was reached.

A request waits for the store only when it has no share of a window (its first request,
a new minute) or a share ran out before its top-up came back. Otherwise admission and
accounting touch only :class:`Slot` objects, one per counter row, found through a plan
per set of limits made once a minute: no dict look-up, clock read or ``datetime`` per
request. The share sizes and the refresh age are in ``limit_slots.py``.

Requests of uncapped windows, tokens and cost are added to the store in batches, every
:data:`FLUSH_SECONDS` and when the service stops (so a restart keeps them). A batch that
fails while the store is down is dropped (the outage policy logs it): limits under-count
an outage, never over-count it. While the store is down, a process spends the shares it
holds, then the outage policy decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from llmrelay.domain.limits import (
    WINDOWS,
    Admission,
    Refusal,
    StoredLimit,
    retry_after_seconds,
)
from llmrelay.errors import StoreError
from llmrelay.store.limit_counters import (
    NANO_USD,
    WINDOW_SUFFIX,
    LimitCounters,
    Taken,
    nano_usd,
    windows_of,
)
from llmrelay.store.limit_guard import OutagePolicy
from llmrelay.store.limit_slots import Plan, Slot, share_size
from llmrelay.tasks import BackgroundTasks

__all__ = ["FLUSH_SECONDS", "LocalShares"]

log = logging.getLogger("llmrelay.limits")

FLUSH_SECONDS = 0.5
PRUNE_SECONDS = 3600.0
_TAKES = 3  # tries to hold a share of every window at once
_MAX_PLANS = 1000
_ADMITTED = Admission.ok()


class LocalShares:
    """Admits requests and counts executions against the shared counters, sparing the
    store as described above; never raises :class:`StoreError` (the outage policy)."""

    def __init__(
        self, counters: LimitCounters, policy: OutagePolicy, *, flush_every: float = FLUSH_SECONDS
    ) -> None:
        self._counters = counters
        self.policy = policy
        self._flush_every = flush_every
        self._slots: dict[tuple[str, str, datetime], Slot] = {}  # by counter row
        self._taking = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._refilling = BackgroundTasks()
        self._plans: dict[int, Plan] = {}  # by id() of the limits, made once a minute
        self._plans_minute = -1  # minutes since the epoch of the cached plans

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if not self._tasks:
            self._tasks.start(self._run(), name="llmrelay-limit-counts")

    async def stop(self) -> None:
        await self._refilling.stop(drain=5.0)
        for err in await self._tasks.stop():
            log.error("limits: counting failed: %s", type(err).__name__)
        await self.flush()

    async def _run(self) -> None:
        pruned = time.monotonic()
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()
            clock = time.monotonic()
            stale = [slot for slot in self._slots.values() if slot.stale(clock)]
            if stale:
                await self._top_up(stale, datetime.now(UTC))
            if clock - pruned >= PRUNE_SECONDS:
                pruned = clock
                try:  # rows of past windows and of deleted limits
                    await self._counters.prune(datetime.now(UTC))
                except StoreError as err:
                    log.warning("limits: removing old counts failed (%s); retrying later", err)

    def _plan(self, limits: Sequence[StoredLimit], now: datetime | None) -> Plan:
        """The slots of ``limits`` at ``now`` (None: the clock's), planned once a minute
        per sequence of limits (the service hands the same sequence for the same caller)."""
        seconds = time.time() if now is None else now.timestamp()
        minute = int(seconds // 60)
        if minute != self._plans_minute or len(self._plans) > _MAX_PLANS:
            self._plans, self._plans_minute = {}, minute
        plan = self._plans.get(id(limits))
        if plan is not None and plan.limits is limits:
            return plan
        slots = []
        for window in windows_of(limits, now or datetime.fromtimestamp(seconds, UTC)):
            slot = self._slots.get(window.row_key)
            if slot is None:
                slot = self._slots[window.row_key] = Slot(window)
            slot.fit(window, minute)
            slots.append(slot)
        uncapped = [slot for slot in slots if slot.window.requests_figure is None]
        plan = self._plans[id(limits)] = Plan(limits, slots, uncapped)  # holds the limits
        return plan

    # --- admission -------------------------------------------------------------------------
    def try_admit(
        self, limits: Sequence[StoredLimit], now: datetime | None = None
    ) -> Admission | None:
        """:meth:`admit` without waiting: None when the store must be asked first (a
        share is missing or used up). The usual case, and no coroutine to await."""
        plan = self._plan(limits, now)
        slots = plan.slots
        for slot in slots:  # two passes: nothing is spent unless every window admits
            if slot.left <= 0 or slot.over:
                return self._not_now(slots, now)
        refill = False
        for slot in slots:
            slot.left -= 1
            if slot.left <= slot.low:
                refill = True
        for slot in plan.uncapped:
            slot.requests += 1
        if refill and not self._refilling:
            refilling = self._top_up(slots, now or datetime.now(UTC))
            self._refilling.start(refilling, name="llmrelay-limit-share")
        return _ADMITTED

    def _not_now(self, slots: list[Slot], now: datetime | None) -> Admission | None:
        """Why :meth:`try_admit` cannot admit: None while a share is missing or used up
        (the store is asked first), else the refusal from what this process knows."""
        if any(slot.left <= 0 for slot in slots):
            return None
        refusal = self._local_refusal(slots, now or datetime.now(UTC))
        return Admission(admitted=False, refusal=refusal)

    async def admit(self, limits: Sequence[StoredLimit], now: datetime | None = None) -> Admission:
        """Admit a request under ``limits`` at ``now`` (None: the clock's time)."""
        for _ in range(_TAKES):
            admission = self.try_admit(limits, now)  # the usual case: shares at hand
            if admission is not None:
                return admission
            async with self._taking:  # one take at a time; waiters reuse what it brought
                needed = [slot for slot in self._plan(limits, now).slots if slot.left <= 0]
                if needed:
                    refused = await self._take(needed, now or datetime.now(UTC))
                    if refused is not None:
                        return refused
        admission = self.try_admit(limits, now)
        # None: shares kept ending under the takes (a window ended); admitted
        return _ADMITTED if admission is None else admission

    async def _take(self, needed: list[Slot], now: datetime) -> Admission | None:
        """A blocking take: the request waits for it (no share, or it is used up)."""
        try:
            taken = await self._counters.take(
                [(s.window, share_size(s.window)) for s in needed], now
            )
        except StoreError as err:
            return self.policy.on_store_error(err)
        self.policy.on_store_ok()
        if isinstance(taken, Refusal):
            return Admission(admitted=False, refusal=taken)
        clock = time.monotonic()
        for slot in needed:
            slot.took(taken[slot.window.key], clock)
        return None

    async def _top_up(self, slots: Iterable[Slot], now: datetime) -> None:
        """Top up shares running low, beside the requests (one take): a window that caps
        requests reserves more, the others start a new share; a refusal empties the
        refused window's share (the next request asks the store). Shares only stale
        learn the stored tokens and cost by one read, which locks nothing."""
        async with self._taking:
            clock = time.monotonic()
            low: list[Slot] = []
            stale: list[Slot] = []
            for slot in slots:
                if slot.taken_at < 0 or self._slots.get(slot.window.row_key) is not slot:
                    continue  # no share yet, or forgotten
                if slot.left <= slot.low:
                    low.append(slot)
                elif slot.stale(clock):
                    stale.append(slot)
            taken: dict[tuple[str, int], Taken] | Refusal = {}
            read: dict[tuple[str, int], Taken] = {}
            try:
                if low:
                    wants = [(slot.window, share_size(slot.window)) for slot in low]
                    taken = await self._counters.take(wants, now)
                if stale:
                    read = await self._counters.read([slot.window for slot in stale])
            except StoreError as err:
                self.policy.on_store_error(err)
                return
            self.policy.on_store_ok()
            clock = time.monotonic()
            for slot in stale:
                slot.learned(read[slot.window.key], clock)
            if isinstance(taken, Refusal):
                # a token or cost figure reached elsewhere: ask the store on the next request
                # (a full requests figure leaves this process's reserve to be used)
                refused = (taken.limit_id, WINDOWS.index(taken.cap.window))
                for slot in low:
                    if slot.window.key == refused and taken.cap.metric != "requests":
                        slot.left = 0
                return
            for slot in low:
                slot.took(taken[slot.window.key], clock)

    def _local_refusal(self, slots: list[Slot], now: datetime) -> Refusal:
        """The longest-lasting token or cost figure this process knows to be reached."""
        found: list[Refusal] = []
        for slot in slots:
            window = slot.window
            for cap in window.caps:
                if cap.metric == "tokens":
                    reached = slot.tokens >= slot.tokens_cap
                elif cap.metric == "cost_usd":
                    reached = slot.cost >= slot.cost_cap
                else:
                    continue
                if reached:
                    retry = retry_after_seconds(window.kind, now)
                    found.append(Refusal(window.limit.id, window.limit.limit.name, cap, retry))
        return max(found, key=lambda r: r.retry_after)

    async def current(
        self, limits: Sequence[StoredLimit], now: datetime
    ) -> dict[str, dict[str, object]]:
        """Each limit's use (``LimitCounters.current``) after this process's batch, less
        the requests it has reserved and not used yet (other processes' reserves show)."""
        await self.flush()
        use = await self._counters.current(limits, now)
        for window in windows_of(limits, now):
            slot = self._slots.get(window.row_key)
            if slot is None or window.requests_figure is None:
                continue
            field = f"requests_{WINDOW_SUFFIX[window.kind]}"
            counted = use[window.limit.id].get(field)
            if isinstance(counted, int):
                use[window.limit.id][field] = max(0, counted - slot.left)
        return use

    # --- accounting ------------------------------------------------------------------------
    def record(
        self,
        limits: Sequence[StoredLimit],
        *,
        tokens: int,
        cost_usd: Decimal | float | None,
        now: datetime | None = None,
    ) -> None:
        """An execution ended: its tokens and cost (None: unknown, adds nothing) count in
        the windows of ``limits`` that contain ``now`` (None: the clock's time); stored
        with the next batch."""
        cost = _nano_usd(cost_usd)
        tokens = max(0, tokens)
        if tokens == 0 and cost == 0:
            return
        for slot in self._plan(limits, now).slots:
            slot.tokens += tokens
            slot.new_tokens += tokens
            if cost:
                slot.cost += cost
                slot.new_cost += cost
            slot.over = slot.tokens >= slot.tokens_cap or slot.cost >= slot.cost_cap

    async def flush(self) -> None:
        """Store the batch; forget the slots no plan used for two minutes."""
        rows = []
        for key, slot in list(self._slots.items()):
            window = slot.window
            requests = slot.requests if window.requests_figure is None else 0
            if requests or slot.new_tokens or slot.new_cost:
                rows.append((*window.row_key, requests, slot.new_tokens, slot.new_cost))
            slot.requests = slot.new_tokens = slot.new_cost = 0
            if slot.seen < self._plans_minute - 1:  # no plan of this minute holds it
                del self._slots[key]  # counted above; a later plan makes a new one
        if not rows:
            return
        try:
            await self._counters.add(rows)
        except StoreError as err:
            self.policy.on_store_error(err)
            return
        self.policy.on_store_ok()


def _nano_usd(cost: Decimal | float | None) -> int:
    """A cost in whole nano-USD (None or not positive: nothing to add)."""
    if cost is None or cost <= 0:
        return 0
    if isinstance(cost, Decimal):
        return int((cost * NANO_USD).to_integral_value())
    return nano_usd(cost)
