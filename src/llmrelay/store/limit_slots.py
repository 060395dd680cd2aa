"""A process's view of the limit counter rows it admits into: one :class:`Slot` per row
(its share, what it knows of the row's tokens and cost, and its unstored counts), and the
:class:`Plan` that lists a set of limits' slots for a minute. The rules they keep are
described in ``limit_shares.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmrelay.domain.limits import StoredLimit
from llmrelay.store.limit_counters import Taken, Window

__all__ = ["MAX_SHARE", "OPEN_SHARE", "SHARE_SECONDS", "Plan", "Slot", "share_size"]

MAX_SHARE = 65536  # a bound on the store's work at high rates; figure / 30 bounds the rest
SHARE_DIVISOR = 30
OPEN_SHARE = 65536  # admissions between takes of a window without a request figure
SHARE_SECONDS = 1.0
_NO_FIGURE = 1 << 62  # above any count: a window without a token (or cost) figure


def share_size(window: Window) -> int:
    """Admissions one take asks for in ``window`` (the rules: ``limit_shares.py``)."""
    if window.requests_figure is None:
        return OPEN_SHARE
    return max(1, min(MAX_SHARE, window.requests_figure // SHARE_DIVISOR))


@dataclass(slots=True, eq=False)
class Slot:
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
        self.learned(got, clock)

    def learned(self, stored: Taken, clock: float) -> None:
        """A read (or take) came back: the window's tokens and cost as stored, plus this
        process's not yet stored; the share as it now is counts as fresh."""
        self.granted, self.taken_at = self.left, clock
        self.tokens = stored.tokens + self.new_tokens
        self.cost = stored.cost_nano_usd + self.new_cost
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
class Plan:
    """The slots of a set of limits this minute; ``uncapped`` store their requests."""

    limits: Sequence[StoredLimit]
    slots: list[Slot]
    uncapped: list[Slot]
