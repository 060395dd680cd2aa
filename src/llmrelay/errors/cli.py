"""Errors of the command line."""

from __future__ import annotations

from typing import ClassVar

from llmrelay.errors.base import LlmrelayError


# --- the command line ------------------------------------------------------------------
class RemoteError(LlmrelayError):
    """A failure talking to llmrelay, already phrased for the user; ``status`` is the HTTP
    status of an error llmrelay answered (None for anything else)."""

    EXIT_CODE: ClassVar[int] = 1  # the command's exit status unless the caller says

    def __init__(
        self, message: str, exit_code: int = EXIT_CODE, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


class LocalModelUnavailableError(LlmrelayError):
    """The model runtime or the model file is missing, or the server did not come up;
    ``hint`` says what to do about it."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{reason}; {hint}" if hint else reason)
        self.reason = reason
