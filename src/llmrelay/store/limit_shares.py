"""Admission from a local share of the shared counters, and batched accounting.

One store transaction per request costs 5-25 ms on SQLite and serialises every worker
(docs/limits.md, "Speed"), so a process takes a *share* of each window it admits into
(:meth:`LimitCounters.take`, one transaction for all of a request's windows) and admits
from memory:

- a window that caps requests (``requests_per_minute``) reserves
  ``min(share, figure - counted)`` requests in the store, so no process ever admits past
  the figure; a share is ``figure / 30`` requests (at least 1, at most :data:`MAX_SHARE`)
  and is topped up beside the requests when half of it is left, so a process holds at most
  1.5 shares: while others hold unused reserved requests a refusal can come early by at
  most 5% of the figure per other process;
- any other window grants :data:`OPEN_SHARE` admissions; its requests are counted as they
  are admitted (batched, below);
- every take brings back the window's tokens and cost, and the share of a window with a
  token or cost figure that was used since its take is refreshed by the background task
  once it is older than :data:`SHARE_SECONDS` (a window that caps requests only has nothing
  to learn: its requests are reserved); the process adds its own tokens and cost as its
  executions end and refuses from that view. So besides the one-call overshoot of every
  gateway, another process may admit calls for up to about
  ``SHARE_SECONDS + FLUSH_SECONDS`` after a token or cost figure was reached.

A request waits for the store only when it has no share of a window (its first request,
a new minute) or a share ran out before its top-up came back. Otherwise admission and
accounting touch only :class:`_Slot` objects, one per counter row, found through a plan
per set of limits made once a minute: no dict look-up, clock read or ``datetime`` per
request.

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
from dataclasses import dataclass
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
    Window,
    nano_usd,
    windows_of,
)
from llmrelay.store.limit_guard import OutagePolicy
from llmrelay.tasks import BackgroundTasks

__all__ = ["FLUSH_SECONDS", "MAX_SHARE", "OPEN_SHARE", "LocalShares", "share_size"]

log = logging.getLogger("llmrelay.limits")

MAX_SHARE = 65536  # a bound on the store's work at high rates; figure / 30 bounds the rest
SHARE_DIVISOR = 30
OPEN_SHARE = 65536  # admissions between takes of a window without a request figure
SHARE_SECONDS = 1.0
FLUSH_SECONDS = 0.5
PRUNE_SECONDS = 3600.0
_TAKES = 3  # tries to hold a share of every window at once
_NO_FIGURE = 1 << 62  # above any count: a window without a token (or cost) figure
_MAX_PLANS = 1000
_ADMITTED = Admission.ok()


def share_size(window: Window) -> int:
    """Admissions one take asks for in ``window`` (see the module docstring)."""
    if window.requests_figure is None:
        return OPEN_SHARE
    return max(1, min(MAX_SHARE, window.requests_figure // SHARE_DIVISOR))


@dataclass(slots=True, eq=False)
class _Slot:
    """This process's view of one counter row (a limit's window): its share, what it
    knows of the row's tokens and cost, and the counts it has not stored yet."""

    window: Window
    left: int = 0  # admissions left in the share (none before the first take)
    low: int = 0  # at this many left, a top-up starts beside the requests
    granted: int = 0  # ``left`` after the last take: the share was used if it differs
    taken_at: float = -1.0  # time.monotonic() of the last take (< 0: none yet)
    tokens: int = 0  # the store's at the last take, plus this process's since
    cost: int = 0  # likewise, in nano-USD
    tokens_cap: int = _NO_FIGURE
    cost_cap: int = _NO_FIGURE
    over: bool = False  # a token or cost figure reached, as far as this process knows
    requests: int = 0  # admitted since the last batch (stored for uncapped windows only)
    new_tokens: int = 0  # ended executions' tokens since the last batch
    new_cost: int = 0
    seen: int = 0  # the last minute a plan included it (unseen for 2 minutes: forgotten)

    def fit(self, window: Window, minute: int) -> None:
        """This minute's window of the row (the limit's figures may have changed)."""
        self.window, self.seen = window, minute
        self.low = share_size(window) // 2
        self.tokens_cap = _NO_FIGURE if window.tokens_figure is None else window.tokens_figure
        self.cost_cap = _NO_FIGURE if window.cost_figure is None else window.cost_figure
        self.weigh()

    def weigh(self) -> None:
        self.over = self.tokens >= self.tokens_cap or self.cost >= self.cost_cap

    def took(self, got: Taken, clock: float) -> None:
        """A take came back: reserved requests add up, other shares start afresh."""
        reserved = self.window.requests_figure is not None
        self.left = self.left + got.granted if reserved else got.granted
        self.granted, self.taken_at = self.left, clock
        self.tokens = got.tokens + self.new_tokens
        self.cost = got.cost_nano_usd + self.new_cost
        self.weigh()

    def stale(self, clock: float) -> bool:
        """A share of a token or cost window, used since its take more than
        :data:`SHARE_SECONDS` ago: the other processes' counts are worth reading."""
        return (
            self.window.metered
            and self.taken_at >= 0
            and self.left != self.granted
            and clock - self.taken_at > SHARE_SECONDS
        )


@dataclass(slots=True, eq=False)
class _Plan:
    """The slots of a set of limits this minute; ``uncapped`` store their requests."""

    limits: Sequence[StoredLimit]
    slots: list[_Slot]
    uncapped: list[_Slot]


class LocalShares:
    """Admits requests and counts executions against the shared counters, sparing the
    store as described above; never raises :class:`StoreError` (the outage policy)."""

    def __init__(
        self, counters: LimitCounters, policy: OutagePolicy, *, flush_every: float = FLUSH_SECONDS
    ) -> None:
        self._counters = counters
        self.policy = policy
        self._flush_every = flush_every
        self._slots: dict[tuple[str, str, datetime], _Slot] = {}  # by counter row
        self._taking = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._refilling = BackgroundTasks()
        self._plans: dict[int, _Plan] = {}  # by id() of the limits, made once a minute
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

    def _plan(self, limits: Sequence[StoredLimit], now: datetime | None) -> _Plan:
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
                slot = self._slots[window.row_key] = _Slot(window)
            slot.fit(window, minute)
            slots.append(slot)
        uncapped = [slot for slot in slots if slot.window.requests_figure is None]
        plan = self._plans[id(limits)] = _Plan(limits, slots, uncapped)  # holds the limits
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

    def _not_now(self, slots: list[_Slot], now: datetime | None) -> Admission | None:
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

    async def _take(self, needed: list[_Slot], now: datetime) -> Admission | None:
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

    async def _top_up(self, slots: Iterable[_Slot], now: datetime) -> None:
        """Top up shares running low and refresh stale ones, beside the requests: a window
        that caps requests reserves more only when low; the others start a new share. A
        refusal empties the refused window's share (the next request asks the store)."""
        async with self._taking:
            clock = time.monotonic()
            wants: list[tuple[_Slot, int]] = []
            for slot in slots:
                if slot.taken_at < 0 or self._slots.get(slot.window.row_key) is not slot:
                    continue  # no share yet, or forgotten
                size = share_size(slot.window)
                low = slot.left <= slot.low
                if low or slot.stale(clock):
                    uncapped = slot.window.requests_figure is None
                    wants.append((slot, size if low or uncapped else 0))
            if not wants:
                return
            try:
                taken = await self._counters.take([(s.window, n) for s, n in wants], now)
            except StoreError as err:
                self.policy.on_store_error(err)
                return
            self.policy.on_store_ok()
            if isinstance(taken, Refusal):
                # a token or cost figure reached elsewhere: ask the store on the next request
                # (a full requests figure leaves this process's reserve to be used)
                refused = (taken.limit_id, WINDOWS.index(taken.cap.window))
                for slot, _ in wants:
                    if slot.window.key == refused and taken.cap.metric != "requests":
                        slot.left = 0
                return
            clock = time.monotonic()
            for slot, _ in wants:
                slot.took(taken[slot.window.key], clock)

    def _local_refusal(self, slots: list[_Slot], now: datetime) -> Refusal:
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
