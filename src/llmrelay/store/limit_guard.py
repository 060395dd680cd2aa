"""What limits do when the store is down, and the local share that would spare the store.

**Store outage.** Admission needs the shared counters. When they cannot be reached,
:class:`OutagePolicy` decides: ``open`` (the default) admits the request uncounted, ``closed``
refuses it with a short ``Retry-After`` (the request path answers 503: the limits cannot be
checked, which is not the caller's fault). Either way a warning is logged, at most once per
``log_every`` seconds while the outage lasts, and once more when the store answers again.
Tokens of executions that end during an outage are not added to the counters (the event
log still has them, through its spool); limits therefore under-count an outage, never
over-count.

**Local shares.** The request path does not run :meth:`LimitCounters.admit` (one
transaction per request) but takes shares of the windows and admits from memory
(``limit_shares.py``, with its bounds); :class:`GuardedCounters` is the exact path for
callers that want one transaction per admission.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from llmrelay.domain.limits import Admission, StoredLimit
from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.store.limit_counters import LimitCounters

__all__ = ["OUTAGE_MODES", "GuardedCounters", "OutageMode", "OutagePolicy"]

log = logging.getLogger("llmrelay.limits")

OutageMode = Literal["open", "closed"]
OUTAGE_MODES: tuple[OutageMode, ...] = ("open", "closed")
SETTING = "llmrelay.limits.onStoreOutage"


@dataclass
class OutagePolicy:
    """Fail open (admit, the default) or closed (refuse) while the counters are unreachable."""

    mode: OutageMode = "open"
    retry_after: int = 5  # seconds, when failing closed
    log_every: float = 60.0  # seconds between two warnings of one outage
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _last_warning: float | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_setting(cls, value: object) -> OutagePolicy:
        if value not in OUTAGE_MODES:
            raise ConfigurationError(f'{SETTING}: expected "open" or "closed"')
        return cls(mode="open" if value == "open" else "closed")

    @property
    def in_outage(self) -> bool:
        return self._last_warning is not None

    def on_store_error(self, error: StoreError) -> Admission:
        """The admission while the store fails; logs (rate-limited) what was decided."""
        now = self.clock()
        if self._last_warning is None or now - self._last_warning >= self.log_every:
            self._last_warning = now
            decision = (
                "admitting requests without checking limits (fail open)"
                if self.mode == "open"
                else "refusing requests that limits cover (fail closed)"
            )
            log.warning("limits: the store is unavailable (%s); %s", error, decision)
        if self.mode == "open":
            return Admission(admitted=True, store_unavailable=True)
        return Admission(admitted=False, store_unavailable=True, retry_after=self.retry_after)

    def on_store_ok(self) -> None:
        """The store answered: an outage, if one was logged, is over."""
        if self._last_warning is not None:
            self._last_warning = None
            log.warning("limits: the store is available again; limits are enforced")


class GuardedCounters:
    """:class:`LimitCounters` with the outage policy applied: never raises StoreError."""

    def __init__(self, counters: LimitCounters, policy: OutagePolicy) -> None:
        self.counters = counters
        self.policy = policy

    async def admit(self, limits: Sequence[StoredLimit], now: datetime) -> Admission:
        if not limits:
            return Admission.ok()
        try:
            admission = await self.counters.admit(limits, now)
        except StoreError as err:
            return self.policy.on_store_error(err)
        self.policy.on_store_ok()
        return admission

    async def record(
        self,
        limits: Sequence[StoredLimit],
        *,
        tokens: int,
        cost_usd: float | None,
        now: datetime,
    ) -> bool:
        """Add tokens and cost; False when the store failed (the amounts are dropped)."""
        try:
            await self.counters.record(limits, tokens=tokens, cost_usd=cost_usd, now=now)
        except StoreError as err:
            self.policy.on_store_error(err)
            return False
        return True
