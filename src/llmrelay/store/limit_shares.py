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
- every take brings back the window's tokens and cost, and a share of a window with a
  token or cost figure older than :data:`SHARE_SECONDS` is refreshed beside the requests
  (a window that caps requests only has nothing to learn: its requests are reserved); the
  process adds its own tokens
  and cost as its executions end and refuses from that view. So besides the one-call
  overshoot of every gateway, another process may admit calls for about a second after a
  token or cost figure was reached.

A request waits for the store only when it has no share of a window (its first request,
a new minute) or a share ran out before its top-up came back.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from llmrelay.domain.limits import (
    WINDOWS,
    Admission,
    Refusal,
    StoredLimit,
    WindowKind,
    retry_after_seconds,
    window_start,
)
from llmrelay.errors import StoreError
from llmrelay.store.limit_counters import (
    WINDOW_SUFFIX,
    LimitCounters,
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

_Key = tuple[str, int]
_PendingKey = tuple[str, WindowKind, datetime]


def share_size(window: Window) -> int:
    """Admissions one take asks for in ``window`` (see the module docstring)."""
    if window.requests_figure is None:
        return OPEN_SHARE
    return max(1, min(MAX_SHARE, window.requests_figure // SHARE_DIVISOR))


@dataclass(slots=True)
class _Share:
    start: datetime
    left: int
    tokens: int  # the store's at the take, plus this process's since
    cost_nano_usd: int
    taken_at: float  # time.monotonic() of the take
    low: int  # at this many admissions left, a refill starts beside the requests


class LocalShares:
    """Admits requests and counts executions against the shared counters, sparing the
    store as described above; never raises :class:`StoreError` (the outage policy)."""

    def __init__(
        self, counters: LimitCounters, policy: OutagePolicy, *, flush_every: float = FLUSH_SECONDS
    ) -> None:
        self._counters = counters
        self.policy = policy
        self._flush_every = flush_every
        self._shares: dict[_Key, _Share] = {}
        self._pending: dict[_PendingKey, list[int]] = {}  # requests, tokens, nano-USD
        self._taking = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._refilling = BackgroundTasks()
        # the windows of a set of limits in the current minute (computed once a minute)
        self._windows: dict[int, tuple[Sequence[StoredLimit], list[Window]]] = {}
        self._windows_minute = -1  # minutes since the epoch of the cached windows

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
            if time.monotonic() - pruned >= PRUNE_SECONDS:
                pruned = time.monotonic()
                try:  # rows of past windows and of deleted limits
                    await self._counters.prune(datetime.now(UTC))
                except StoreError as err:
                    log.warning("limits: removing old counts failed (%s); retrying later", err)

    def _windows_of(self, limits: Sequence[StoredLimit], now: datetime | None) -> list[Window]:
        """``windows_of`` at ``now`` (None: the clock's), computed once a minute per
        sequence of limits (the service hands the same sequence for the same caller). The
        minute comes from ``time.time()``: no ``datetime`` is made on the request path."""
        seconds = time.time() if now is None else now.timestamp()
        minute = int(seconds // 60)
        if minute != self._windows_minute or len(self._windows) > 1000:
            self._windows, self._windows_minute = {}, minute
        cached = self._windows.get(id(limits))
        if cached is not None and cached[0] is limits:
            return cached[1]
        windows = windows_of(limits, now or datetime.fromtimestamp(seconds, UTC))
        self._windows[id(limits)] = (limits, windows)  # holds it: its id stays its own
        return windows

    # --- admission -------------------------------------------------------------------------
    def try_admit(
        self, limits: Sequence[StoredLimit], now: datetime | None = None
    ) -> Admission | None:
        """:meth:`admit` without waiting: None when the store must be asked first (a
        share is missing or used up). The usual case, and no coroutine to await."""
        windows = self._windows_of(limits, now)
        if not windows:
            return Admission.ok()
        held = self._held(windows)
        return None if held is None else self._admit_held(windows, held, now)

    async def admit(self, limits: Sequence[StoredLimit], now: datetime | None = None) -> Admission:
        """Admit a request under ``limits`` at ``now`` (None: the clock's time)."""
        windows = self._windows_of(limits, now)
        if not windows:
            return Admission.ok()
        held = self._held(windows)  # the usual case: a share of every window at hand
        for _ in range(_TAKES):
            if held is not None:
                break
            async with self._taking:  # one take at a time; waiters reuse what it brought
                needed = [w for w in windows if not self._usable(w)]
                if needed:
                    refused = await self._take(needed, now or datetime.now(UTC))
                    if refused is not None:
                        return refused
            held = self._held(windows)
        if held is None:  # shares kept ending under the takes (a window ended)
            return Admission.ok()
        return self._admit_held(windows, held, now)

    def _admit_held(
        self, windows: list[Window], held: list[_Share], now: datetime | None
    ) -> Admission:
        """Refuse from what this process knows, or admit and spend one of each share."""
        for window, share in zip(windows, held, strict=True):
            if (window.tokens_figure is not None and share.tokens >= window.tokens_figure) or (
                window.cost_figure is not None and share.cost_nano_usd >= window.cost_figure
            ):
                refusal = self._local_refusal(windows, now or datetime.now(UTC))
                return Admission(admitted=False, refusal=refusal)
        refill = False
        clock = time.monotonic()
        pending = self._pending
        for window, share in zip(windows, held, strict=True):
            share.left -= 1
            if window.requests_figure is None:  # counted here (capped ones: by reserving)
                amounts = pending.get(window.row_key)
                if amounts is None:
                    amounts = pending[window.row_key] = [0, 0, 0]
                amounts[0] += 1
            if share.left <= share.low or (
                window.metered and clock - share.taken_at > SHARE_SECONDS
            ):
                refill = True
        if refill and not self._refilling:
            refilling = self._refill(windows, now or datetime.now(UTC))
            self._refilling.start(refilling, name="llmrelay-limit-share")
        return Admission.ok()

    def _held(self, windows: list[Window]) -> list[_Share] | None:
        """The usable share of each window, or None when one is missing or used up."""
        shares = self._shares
        held = []
        for window in windows:
            share = shares.get(window.key)
            if share is None or share.start != window.start or share.left <= 0:
                return None
            held.append(share)
        return held

    def _usable(self, window: Window) -> bool:
        share = self._shares.get(window.key)
        return share is not None and share.start == window.start and share.left > 0

    async def _take(self, needed: list[Window], now: datetime) -> Admission | None:
        """A blocking take: the request waits for it (no share, or it is used up)."""
        try:
            taken = await self._counters.take([(w, share_size(w)) for w in needed], now)
        except StoreError as err:
            return self.policy.on_store_error(err)
        self.policy.on_store_ok()
        if isinstance(taken, Refusal):
            return Admission(admitted=False, refusal=taken)
        clock = time.monotonic()
        for window in needed:
            got = taken[window.key]
            pending = self._pending.get(window.row_key)
            tokens, cost = (pending[1], pending[2]) if pending else (0, 0)
            self._shares[window.key] = _Share(
                window.start,
                got.granted,
                got.tokens + tokens,
                got.cost_nano_usd + cost,
                clock,
                share_size(window) // 2,
            )
        return None

    async def _refill(self, windows: list[Window], now: datetime) -> None:
        """Top up shares running low and refresh old ones, beside the requests: a window
        that caps requests reserves more only when low; the others start a new share. A
        refusal empties the refused window's share (the next request asks the store)."""
        async with self._taking:
            clock = time.monotonic()
            wants: list[tuple[Window, int]] = []
            for window in windows:
                share = self._shares.get(window.key)
                if share is None or share.start != window.start:
                    continue
                size = share_size(window)
                low = share.left <= size // 2
                if low or (window.metered and clock - share.taken_at > SHARE_SECONDS):
                    uncapped = window.requests_figure is None
                    wants.append((window, size if low or uncapped else 0))
            if not wants:
                return
            try:
                taken = await self._counters.take(wants, now)
            except StoreError as err:
                self.policy.on_store_error(err)
                return
            self.policy.on_store_ok()
            if isinstance(taken, Refusal):
                # a token or cost figure reached elsewhere: ask the store on the next request
                # (a full requests figure leaves this process's reserve to be used)
                refused = self._shares.get((taken.limit_id, WINDOWS.index(taken.cap.window)))
                if refused is not None and taken.cap.metric != "requests":
                    refused.left = 0
                return
            clock = time.monotonic()
            for window, _ in wants:
                share = self._shares.get(window.key)
                if share is None or share.start != window.start:
                    continue
                got = taken[window.key]
                pending = self._pending.get(window.row_key)
                tokens, cost = (pending[1], pending[2]) if pending else (0, 0)
                uncapped = window.requests_figure is None
                share.left = got.granted if uncapped else share.left + got.granted
                share.tokens = got.tokens + tokens
                share.cost_nano_usd = got.cost_nano_usd + cost
                share.taken_at = clock

    def _local_refusal(self, windows: list[Window], now: datetime) -> Refusal:
        """The longest-lasting token or cost figure this process knows to be reached."""
        found: list[Refusal] = []
        for window in windows:
            share = self._shares[window.key]
            for cap in window.caps:
                if cap.metric == "tokens":
                    reached = share.tokens >= (window.tokens_figure or 0)
                elif cap.metric == "cost_usd":
                    reached = share.cost_nano_usd >= (window.cost_figure or 0)
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
            share = self._shares.get(window.key)
            if share is None or share.start != window.start or window.requests_figure is None:
                continue
            field = f"requests_{WINDOW_SUFFIX[window.kind]}"
            counted = use[window.limit.id].get(field)
            if isinstance(counted, int):
                use[window.limit.id][field] = max(0, counted - share.left)
        return use

    # --- accounting ------------------------------------------------------------------------
    def record(
        self,
        limits: Sequence[StoredLimit],
        *,
        tokens: int,
        cost_usd: float | None,
        now: datetime | None = None,
    ) -> None:
        """An execution ended: its tokens and cost (None: unknown, adds nothing) count in
        the windows of ``limits`` that contain ``now`` (None: the clock's time); stored
        with the next batch."""
        cost = nano_usd(cost_usd) if cost_usd is not None and cost_usd > 0 else 0
        tokens = max(0, tokens)
        if tokens == 0 and cost == 0:
            return
        pending, shares = self._pending, self._shares
        for window in self._windows_of(limits, now):
            amounts = pending.get(window.row_key)
            if amounts is None:
                amounts = pending[window.row_key] = [0, 0, 0]
            amounts[1] += tokens
            amounts[2] += cost
            share = shares.get(window.key)
            if share is not None and share.start == window.start:
                share.tokens += tokens
                share.cost_nano_usd += cost

    async def flush(self) -> None:
        """Store the batch; forget shares of past windows."""
        pending, self._pending = self._pending, {}
        now = datetime.now(UTC)
        for key in [key for key, share in self._shares.items() if not _current(share, key, now)]:
            del self._shares[key]  # in place: an admission may hold the dict across a take
        rows = [
            (lid, kind, start, requests, tokens, cost)
            for (lid, kind, start), (requests, tokens, cost) in pending.items()
        ]
        if not rows:
            return
        try:
            await self._counters.add(rows)
        except StoreError as err:
            self.policy.on_store_error(err)
            return
        self.policy.on_store_ok()


def _current(share: _Share, key: _Key, now: datetime) -> bool:
    """A share of this window or the one before (an admission may still be using it)."""
    return share.start >= window_start(WINDOWS[key[1]], now - timedelta(minutes=1))
