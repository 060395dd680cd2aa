"""Local shares of the limit counters (``store/limit_shares.py``) against the real store:
what two processes' shares admit, how one process learns the other's tokens, and that the
state a process keeps stays bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from llmrelay.domain.limits import StoredLimit, parse_limit
from llmrelay.store import Store
from llmrelay.store.limit_counters import LimitCounters
from llmrelay.store.limit_guard import OutagePolicy
from llmrelay.store.limit_shares import LocalShares
from llmrelay.store.limit_slots import SHARE_SECONDS
from llmrelay.store.limits import LimitRepository

AT = datetime(2030, 6, 15, 12, 30, 10, tzinfo=UTC)  # one minute for the whole test


async def _limit(store: Store, **figures: object) -> tuple[StoredLimit, ...]:
    body = {"name": "team a", "scope": {"user": "alice"}, **figures}
    stored = await LimitRepository(store.engine).create("default", parse_limit(body))
    return (stored,)


def _shares(store: Store, flush_every: float = 0.05) -> LocalShares:
    return LocalShares(LimitCounters(store.engine), OutagePolicy(), flush_every=flush_every)


async def _admitted(
    shares: LocalShares, limits: Sequence[StoredLimit], n: int, at: datetime | None = None
) -> int:
    return sum([(await shares.admit(limits, at)).admitted for _ in range(n)])


async def test_two_processes_shares_never_admit_past_a_requests_figure(store: Store) -> None:
    limits = await _limit(store, requests_per_minute=90)  # a share is 90 / 30 = 3 requests
    first, second = _shares(store), _shares(store)
    early = await _admitted(first, limits, 60, AT) + await _admitted(second, limits, 60, AT)
    # a refusal comes early by at most the 1.5 shares (4 requests) the other one holds
    assert 90 - 4 <= early <= 90
    late = await _admitted(first, limits, 10, AT) + await _admitted(second, limits, 10, AT)
    assert early + late == 90  # the reserves spent: every request of the figure, no more
    await first.flush()
    await second.flush()
    use = await LimitCounters(store.engine).current(limits, AT)
    assert use[limits[0].id]["requests_this_minute"] == 90


async def test_a_token_figure_reached_here_refuses_without_the_store(store: Store) -> None:
    limits = await _limit(store, tokens_per_day=100)
    shares = _shares(store)
    assert (await shares.admit(limits)).admitted
    shares.record(limits, tokens=100, cost_usd=None)  # not stored yet: only this process knows
    refused = await shares.admit(limits)
    assert not refused.admitted
    assert refused.refusal is not None
    assert refused.refusal.message == 'Limit "team a" reached: 100 tokens per day'
    await shares.flush()
    assert (await shares.current(limits, datetime.now(UTC)))[limits[0].id]["tokens_today"] == 100


async def test_a_process_learns_tokens_counted_by_another_within_the_refresh(
    store: Store,
) -> None:
    limits = await _limit(store, tokens_per_day=100)
    here, there = _shares(store), _shares(store)
    here.start()
    try:
        assert (await here.admit(limits)).admitted  # a share taken while nothing is counted
        assert (await there.admit(limits)).admitted
        there.record(limits, tokens=150, cost_usd=None)
        await there.flush()
        deadline = asyncio.get_running_loop().time() + SHARE_SECONDS + 2.0
        while (await here.admit(limits)).admitted:  # the share in use is refreshed
            assert asyncio.get_running_loop().time() < deadline, "never learnt the tokens"
            await asyncio.sleep(0.05)
    finally:
        await here.stop()


async def test_costs_count_exactly_from_decimal_and_float(store: Store) -> None:
    limits = await _limit(store, cost_usd_per_day=1)
    shares = _shares(store)
    assert (await shares.admit(limits)).admitted
    shares.record(limits, tokens=10, cost_usd=Decimal("0.000123456"))
    shares.record(limits, tokens=10, cost_usd=0.5)
    shares.record(limits, tokens=10, cost_usd=None)  # unknown: adds nothing
    await shares.flush()
    use = (await shares.current(limits, datetime.now(UTC)))[limits[0].id]
    assert use["cost_usd_today"] == 0.500123456
    assert use["tokens_today"] == 30


async def test_the_slots_of_windows_no_request_uses_are_forgotten(store: Store) -> None:
    limits = await _limit(store, requests_per_minute=1000, tokens_per_day=10_000)
    shares = _shares(store)
    start = datetime(2030, 6, 15, 12, 0, 10, tzinfo=UTC)
    for minute in range(30):  # one request a minute for half an hour
        at = start + timedelta(minutes=minute)
        assert (await shares.admit(limits, at)).admitted
        shares.record(limits, tokens=1, cost_usd=None, now=at)
        await shares.flush()
        # this minute's and the last minute's windows, and the day's: never more
        assert len(shares._slots) <= 3
    use = await LimitCounters(store.engine).current(limits, start + timedelta(minutes=29))
    assert use[limits[0].id]["tokens_today"] == 30
