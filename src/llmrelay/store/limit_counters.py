"""The shared window counters of the limits: admission and accounting, exact across processes.

One row per (limit id, window kind, window start) holds the requests, tokens and cost
(integer nano-USD, so sums are exact and equal on both backends) counted in that calendar
window. Every process and replica counts in the same rows, so a limit holds across
``--workers`` and behind a load balancer.

:meth:`LimitCounters.admit` is one write transaction: per (limit, window), in one fixed
order, a single ``INSERT ... ON CONFLICT DO UPDATE SET requests = requests + 1 WHERE
<every figure of that window is still below its limit> RETURNING requests``. The row is
locked by the statement itself (PostgreSQL) or by the transaction's ``BEGIN IMMEDIATE``
(SQLite), so the check and the increment cannot be split by another process: a request is
admitted only when all its windows are under their figures, and ``requests_per_minute`` is
never exceeded (overshoot bound 0). When one window refuses, the transaction is rolled back
and nothing is counted. The fixed order (limit id, then minute/day/month) keeps concurrent
admissions and recordings from deadlocking on PostgreSQL.

Tokens and cost are added by :meth:`record` when the execution ends, so one execution can
take a token or cost window past its figure by its own size; the next is then refused.

State stays bounded: the first admission in a new window deletes the limit's older rows
of that kind, and :meth:`prune` (for periodic maintenance) deletes every row of a past
window and the rows of deleted limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.domain.limits import (
    WINDOWS,
    Admission,
    Cap,
    Refusal,
    StoredLimit,
    WindowKind,
    retry_after_seconds,
    window_start,
)
from llmrelay.errors import LimitReachedError
from llmrelay.store.schema import LIMIT_WINDOW_KEY, limit_windows, limits
from llmrelay.store.sql import dialect_insert, insert_adding_on_conflict, reading, writing

__all__ = [
    "NANO_USD",
    "WINDOW_SUFFIX",
    "LimitCounters",
    "Taken",
    "Window",
    "current_use",
    "nano_usd",
    "windows_of",
]

t = limit_windows
NANO_USD = 10**9  # counter units per USD
WINDOW_SUFFIX: dict[WindowKind, str] = {
    "minute": "this_minute",
    "day": "today",
    "month": "this_month",
}


def nano_usd(usd: float | int) -> int:
    """USD as integer nano-USD, rounded to the nearest (exact for the decimal text)."""
    return int((Decimal(str(usd)) * NANO_USD).to_integral_value())


@dataclass(frozen=True, slots=True)
class Window:
    """One counter row an admission touches, with the figures checked in it."""

    limit: StoredLimit
    kind: WindowKind
    start: datetime
    caps: tuple[Cap, ...]
    # derived once (the request path reads them): the figure of each metric, or None
    key: tuple[str, int] = field(init=False)
    row_key: tuple[str, WindowKind, datetime] = field(init=False)  # its counter row
    requests_figure: int | None = field(init=False)
    tokens_figure: int | None = field(init=False)
    cost_figure: int | None = field(init=False)  # nano-USD
    metered: bool = field(init=False)  # a token or cost figure: the store's count matters

    def __post_init__(self) -> None:
        figures = {cap.metric: cap.figure for cap in self.caps}
        requests, tokens, cost = (figures.get(m) for m in ("requests", "tokens", "cost_usd"))
        object.__setattr__(self, "key", (self.limit.id, WINDOWS.index(self.kind)))
        object.__setattr__(self, "row_key", (self.limit.id, self.kind, self.start))
        object.__setattr__(self, "requests_figure", None if requests is None else int(requests))
        object.__setattr__(self, "tokens_figure", None if tokens is None else int(tokens))
        object.__setattr__(self, "cost_figure", None if cost is None else nano_usd(cost))
        object.__setattr__(self, "metered", tokens is not None or cost is not None)


@dataclass(frozen=True, slots=True)
class Taken:
    """A share taken of one window: admissions granted, and the window's tokens and
    cost (nano-USD) as the store counted them."""

    granted: int
    tokens: int
    cost_nano_usd: int


def windows_of(limits: Iterable[StoredLimit], now: datetime) -> list[Window]:
    """Every (limit, window) of ``limits`` in the one lock order."""
    found: dict[tuple[str, int], Window] = {}
    for stored in limits:
        caps = stored.limit.caps()
        for kind in stored.limit.windows():
            window = Window(
                stored, kind, window_start(kind, now), tuple(c for c in caps if c.window == kind)
            )
            found[window.key] = window
    return [found[key] for key in sorted(found)]


def _below(cap: Cap) -> Any:
    """``column < figure``: the window still admits under this cap."""
    if cap.metric == "requests":
        return t.c.requests < int(cap.figure)
    if cap.metric == "tokens":
        return t.c.tokens < int(cap.figure)
    return t.c.cost_nano_usd < nano_usd(cap.figure)


def _reached(cap: Cap, row: Any) -> bool:
    if cap.metric == "requests":
        return int(row.requests) >= cap.figure
    if cap.metric == "tokens":
        return int(row.tokens) >= cap.figure
    return int(row.cost_nano_usd) >= nano_usd(cap.figure)


def _in(window: Window) -> Any:
    return and_(
        t.c.limit_id == window.limit.id,
        t.c.kind == window.kind,
        t.c.window_start == window.start,
    )


def current_use(stored: StoredLimit, rows: Iterable[Any], now: datetime) -> dict[str, object]:
    """The API's ``"current"``: requests, tokens and USD of each window the limit has
    (``requests_this_minute``, ``tokens_today``, ``cost_usd_this_month``, ...)."""
    by_window = {(row.kind, row.window_start): row for row in rows}
    use: dict[str, object] = {}
    for kind in stored.limit.windows():
        row = by_window.get((kind, window_start(kind, now)))
        suffix = WINDOW_SUFFIX[kind]
        use[f"requests_{suffix}"] = int(row.requests) if row else 0
        use[f"tokens_{suffix}"] = int(row.tokens) if row else 0
        use[f"cost_usd_{suffix}"] = int(row.cost_nano_usd) / NANO_USD if row else 0.0
    return use


class LimitCounters:
    """Admission and accounting against the shared counters (see the module docstring).

    Every method raises :class:`~llmrelay.errors.StoreError` when the database fails; what
    to do then is the outage policy's business (``limit_guard.py``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(self, limits: Sequence[StoredLimit], now: datetime) -> Admission:
        """Count one request in every window of ``limits`` if all of them admit it."""
        windows = windows_of(limits, now)
        if not windows:
            return Admission.ok()
        try:
            async with writing(self._engine) as conn:
                for window in windows:
                    await self._count_request(conn, window)
        except LimitReachedError as refused:
            return Admission(admitted=False, refusal=await self._refusal(windows, refused, now))
        return Admission.ok()

    async def _count_request(self, conn: AsyncConnection, window: Window) -> None:
        insert = dialect_insert(conn, t).values(
            limit_id=window.limit.id,
            kind=window.kind,
            window_start=window.start,
            requests=1,
            tokens=0,
            cost_nano_usd=0,
        )
        statement = insert.on_conflict_do_update(
            index_elements=list(LIMIT_WINDOW_KEY),
            set_={"requests": t.c.requests + 1},
            where=and_(*(_below(cap) for cap in window.caps)),
        ).returning(t.c.requests)
        counted = (await conn.execute(statement)).scalar()
        if counted is None:
            raise LimitReachedError(window)
        if counted == 1:  # the first request of this window: drop the limit's older ones
            await conn.execute(
                delete(t).where(
                    t.c.limit_id == window.limit.id,
                    t.c.kind == window.kind,
                    t.c.window_start < window.start,
                )
            )

    async def _refusal(
        self, windows: list[Window], refused: LimitReachedError, now: datetime
    ) -> Refusal:
        """The refusal that lasts longest among the caps reached now (so ``Retry-After``
        is not followed by another refusal from a longer window)."""
        async with reading(self._engine) as conn:
            rows = {
                (row.limit_id, row.kind): row
                for row in await conn.execute(select(t).where(or_(*(_in(w) for w in windows))))
            }
        candidates: list[tuple[Window, Cap]] = []
        for window in windows:
            row = rows.get((window.limit.id, window.kind))
            if row is not None:
                candidates += [(window, cap) for cap in window.caps if _reached(cap, row)]
        if not any(window is refused.window for window, _ in candidates):
            # the refusing row changed since (another window began): report it as it was
            candidates.append((refused.window, refused.window.caps[0]))
        window, cap = max(candidates, key=lambda pair: retry_after_seconds(pair[0].kind, now))
        return Refusal(
            limit_id=window.limit.id,
            limit_name=window.limit.limit.name,
            cap=cap,
            retry_after=retry_after_seconds(window.kind, now),
        )

    async def record(
        self,
        limits: Sequence[StoredLimit],
        *,
        tokens: int,
        cost_usd: float | None,
        now: datetime,
    ) -> None:
        """Add an ended execution's tokens and cost (None: unknown, adds nothing) to the
        windows of ``limits`` that contain ``now``."""
        cost = nano_usd(cost_usd) if cost_usd is not None and cost_usd > 0 else 0
        tokens = max(0, tokens)
        windows = windows_of(limits, now)
        if not windows or (tokens == 0 and cost == 0):
            return
        rows = [
            {
                "limit_id": w.limit.id,
                "kind": w.kind,
                "window_start": w.start,
                "requests": 0,
                "tokens": tokens,
                "cost_nano_usd": cost,
            }
            for w in windows
        ]
        async with writing(self._engine) as conn:
            statement = insert_adding_on_conflict(
                conn, t, LIMIT_WINDOW_KEY, ("tokens", "cost_nano_usd")
            )
            for row in rows:  # one by one, in the lock order
                await conn.execute(statement.values(**row))

    async def take(
        self, wants: Sequence[tuple[Window, int]], now: datetime
    ) -> dict[tuple[str, int], Taken] | Refusal:
        """Take a local share of each window in one transaction (``limit_guard.py``).

        A window is read under its row lock (PostgreSQL) or the database's write lock
        (SQLite); if every figure of every window is still below its limit, each window
        that caps requests gets ``min(want, figure - requests)`` requests reserved (counted
        now, so no process can admit past the figure); the others grant ``want``
        admissions and count nothing (their requests are added as they are admitted).
        Returns the grants with each window's tokens and cost, or the :class:`Refusal`.
        """
        ordered = sorted(wants, key=lambda pair: pair[0].key)
        taken: dict[tuple[str, int], Taken] = {}
        try:
            async with writing(self._engine) as conn:
                for window, want in ordered:
                    taken[window.key] = await self._take_one(conn, window, want)
        except LimitReachedError as refused:
            windows = [window for window, _ in ordered]
            return await self._refusal(windows, refused, now)
        return taken

    async def _take_one(self, conn: AsyncConnection, window: Window, want: int) -> Taken:
        insert = dialect_insert(conn, t).values(
            limit_id=window.limit.id,
            kind=window.kind,
            window_start=window.start,
            requests=0,
            tokens=0,
            cost_nano_usd=0,
        )
        locked = insert.on_conflict_do_update(
            index_elements=list(LIMIT_WINDOW_KEY), set_={"requests": t.c.requests}
        ).returning(t.c.requests, t.c.tokens, t.c.cost_nano_usd)
        row = (await conn.execute(locked)).one()
        # want 0: a refresh of the tokens and cost only (the requests were reserved before)
        checked = [cap for cap in window.caps if want > 0 or cap.metric != "requests"]
        if any(_reached(cap, row) for cap in checked):
            raise LimitReachedError(window)
        granted = want
        request_caps = [int(cap.figure) for cap in window.caps if cap.metric == "requests"]
        if request_caps:
            granted = min(want, min(request_caps) - int(row.requests))
        if request_caps and granted > 0:
            await conn.execute(
                t.update().where(_in(window)).values(requests=t.c.requests + granted)
            )
        if not (row.requests or row.tokens or row.cost_nano_usd):  # a new window's row
            await conn.execute(
                delete(t).where(
                    t.c.limit_id == window.limit.id,
                    t.c.kind == window.kind,
                    t.c.window_start < window.start,
                )
            )
        return Taken(granted, int(row.tokens), int(row.cost_nano_usd))

    async def read(self, windows: Sequence[Window]) -> dict[tuple[str, int], Taken]:
        """Each window's tokens and cost as stored (nothing granted), in one read: what a
        process learns of the others' counts between takes."""
        async with reading(self._engine) as conn:
            rows = await conn.execute(select(t).where(or_(*(_in(w) for w in windows))))
            found = {(row.limit_id, row.kind, row.window_start): row for row in rows}
        taken: dict[tuple[str, int], Taken] = {}
        for window in windows:
            row = found.get(window.row_key)
            tokens, cost = (int(row.tokens), int(row.cost_nano_usd)) if row else (0, 0)
            taken[window.key] = Taken(0, tokens, cost)
        return taken

    async def add(self, amounts: Sequence[tuple[str, WindowKind, datetime, int, int, int]]) -> None:
        """Add ``(limit id, kind, window start, requests, tokens, nano-USD)`` rows in one
        transaction (a process's admissions and ended executions, batched)."""
        if not amounts:
            return
        ordered = sorted(amounts, key=lambda row: (row[0], WINDOWS.index(row[1])))
        async with writing(self._engine) as conn:
            statement = insert_adding_on_conflict(
                conn, t, LIMIT_WINDOW_KEY, ("requests", "tokens", "cost_nano_usd")
            )
            rows = [
                {
                    "limit_id": limit_id,
                    "kind": kind,
                    "window_start": start,
                    "requests": requests,
                    "tokens": tokens,
                    "cost_nano_usd": cost,
                }
                for limit_id, kind, start, requests, tokens, cost in ordered
            ]
            await conn.execute(statement, rows)  # one executemany, in the lock order

    async def current(
        self, limits: Sequence[StoredLimit], now: datetime
    ) -> dict[str, dict[str, object]]:
        """Limit id -> its :func:`current_use`, in one query."""
        if not limits:
            return {}
        ids = [stored.id for stored in limits]
        async with reading(self._engine) as conn:
            rows = list(await conn.execute(select(t).where(t.c.limit_id.in_(ids))))
        return {
            stored.id: current_use(stored, (r for r in rows if r.limit_id == stored.id), now)
            for stored in limits
        }

    async def prune(self, now: datetime) -> int:
        """Delete the rows of past windows and of deleted limits; returns how many."""
        past = or_(
            *(
                and_(t.c.kind == kind, t.c.window_start < window_start(kind, now))
                for kind in WINDOWS
            ),
            t.c.limit_id.not_in(select(limits.c.id)),
        )
        async with writing(self._engine) as conn:
            result = await conn.execute(delete(t).where(past))
            return int(result.rowcount)
