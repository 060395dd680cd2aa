"""What an execution returns (the ``_execute`` envelope) and who it runs for."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

ErrorSource = Literal["user", "framework"]


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Who runs an execution, where, and how it arrived (event log fields)."""

    user_name: str | None = None
    space_id: str = "default"
    source: str = "http_request"
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # getDashboard's answer for this caller; None = no access control (library use)
    can_read_usage: bool | None = None


class ByteStream(Protocol):
    """An upstream SSE body passed through unchanged; close it if you stop early."""

    content_type: str

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class ExecutionResult:
    """Kibana's execution result: ``status`` ok with ``data``, or error with messages.

    For streaming sub-actions ``data`` is a :class:`ByteStream` (or, for
    ``invokeAsyncIterator``, an async iterator of parsed chunks); ``to_kibana`` is for
    JSON answers only.
    """

    status: Literal["ok", "error"]
    connector_id: str
    data: object = None
    message: str | None = None
    service_message: str | None = None
    retry: bool | str | None = None
    error_source: ErrorSource | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_kibana(self) -> dict[str, object]:
        """The JSON body of ``POST .../_execute``."""
        body: dict[str, object] = {"status": self.status, "connector_id": self.connector_id}
        if self.status == "ok":
            if self.data is not None:
                body["data"] = self.data
            return body
        body["message"] = self.message or ""
        if self.service_message:
            body["service_message"] = self.service_message
        body["retry"] = self.retry if self.retry is not None else False
        if self.error_source:
            body["errorSource"] = self.error_source
        return body
