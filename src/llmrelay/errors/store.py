"""Errors of the store: the database, users and API keys, limits, the event log."""

from __future__ import annotations

from typing import Any

from llmrelay.errors.base import LlmrelayError


# --- store -----------------------------------------------------------------------------
class StoreError(LlmrelayError, http_status=503):
    """The database failed or refused; answered with a generic message."""


class DecryptionError(StoreError, http_status=500):
    """Stored secrets could not be decrypted (wrong key or tampered data)."""


class UserExistsError(StoreError, http_status=409):
    pass


class LimitReachedError(LlmrelayError, http_status=429):
    """A window of a limit is full; raised inside the admission transaction to roll it
    back. ``window`` is the store's description of it (typed loosely: this module sits
    below ``store``)."""

    def __init__(self, window: Any) -> None:
        super().__init__("limit reached")
        self.window = window


class LimitExceededError(LlmrelayError, http_status=429):
    """A request refused by a limit: ``limit_id`` refused it, ``retry_after`` (whole
    seconds) says when its window admits again, ``budget`` tells a day or month budget
    (``insufficient_quota`` on ``/v1``) from a per-minute rate (``rate_limit_error``)."""

    def __init__(self, message: str, *, limit_id: str, retry_after: int, budget: bool) -> None:
        super().__init__(message)
        self.limit_id = limit_id
        self.retry_after = retry_after
        self.budget = budget


class LimitsUnavailableError(StoreError, http_status=503):
    """Limits cover the request but their counters cannot be reached and
    ``llmrelay.limits.onStoreOutage`` is ``closed``: refused, to be retried shortly."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the limits cannot be checked: the store is unavailable")
        self.retry_after = retry_after


class LimitNotFoundError(StoreError, http_status=404):
    """No limit with this id in this space."""


class UserNotFoundError(StoreError, http_status=404):
    pass


class ApiKeyNotFoundError(StoreError, http_status=404):
    pass


class UnknownRoleError(StoreError, ValueError, http_status=400):
    """A grant names a role llmrelay does not know (the command line's accounts)."""


class InvalidEventError(StoreError, ValueError, http_status=500):
    """A document lacks what the log needs (``event.id``, ``@timestamp``): a caller's bug,
    not an outage."""


class EventLogUnavailableError(StoreError, http_status=503):
    """An execution's event could not be made durable (``llmrelay.eventLog.durability:
    answer``): its answer is withheld, so that no answered execution goes unrecorded. The
    message is shown to the caller; it names the cause, never a document."""

    @classmethod
    def journal_unwritable(cls, exc: OSError) -> EventLogUnavailableError:
        reason = exc.strerror or type(exc).__name__
        return cls(
            f"The event log could not record this execution: its journal is not writable "
            f"({reason}). The answer is withheld so that no answered execution goes "
            "unrecorded; free space in llmrelay's data directory and retry."
        )
