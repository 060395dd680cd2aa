"""Executor test kit: connectors built the way users build them, and a recording sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from llmrelay import ActionsSettings, Connector, Executor
from llmrelay.domain.events import ExecutionRecord


class EventRecorder:
    """An EventSink that remembers records."""

    def __init__(self) -> None:
        self.starts: list[ExecutionRecord] = []
        self.ends: list[ExecutionRecord] = []

    def started(self, record: ExecutionRecord) -> None:
        self.starts.append(record)

    def started_final(self, record: ExecutionRecord) -> None:
        self.started(record)

    def finished(self, record: ExecutionRecord) -> None:
        self.ends.append(record)

    def journaled(self, record: ExecutionRecord) -> None:
        return None

    @property
    def last(self) -> ExecutionRecord:
        assert self.ends, "no execution finished"
        return self.ends[-1]


ConnectorFactory = Callable[..., Connector]


@pytest.fixture
def make_connector() -> ConnectorFactory:
    def build(
        provider: str,
        url: str,
        *,
        secrets: dict[str, Any] | None = None,
        settings: ActionsSettings | None = None,
        connector_id: str = "conn-1",
        name: str = "Test connector",
        **config: Any,
    ) -> Connector:
        return Connector.from_kibana(
            {
                "name": name,
                "connector_type_id": ".gen-ai",
                "config": {"apiProvider": provider, "apiUrl": url, **config},
                "secrets": secrets if secrets is not None else {"apiKey": "sk-test-123"},
            },
            settings=settings,
            id=connector_id,
        )

    return build


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
async def executor(events: EventRecorder) -> AsyncIterator[Executor]:
    async with Executor(ActionsSettings(), sink=events) as ex:
        yield ex
