"""How hard the long-running tests push: ``make test`` runs them at scale 1, ``make soak``
at ``LLMRELAY_SOAK`` (default there: 20), which multiplies property-based examples, fault
storms and the crash test's burst."""

from __future__ import annotations

import os


def _scale() -> int:
    raw = os.environ.get("LLMRELAY_SOAK", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        raise SystemExit(f"LLMRELAY_SOAK must be a whole number >= 1, not {raw!r}") from None


SOAK = _scale()


def scaled(n: int) -> int:
    """``n`` in ``make test``, ``n * LLMRELAY_SOAK`` in ``make soak``."""
    return n * SOAK
