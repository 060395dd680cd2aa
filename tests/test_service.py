"""Relay, the service as a library: the event log survives a store outage and a restart
(each event exactly once), and the service refuses to run without an encryption key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.execution.results import ExecutionContext
from llmrelay.service import Relay
from llmrelay.settings import load_settings
from llmrelay.store.events import EventRepository
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import make_settings

RUN = {
    "subAction": "run",
    "subActionParams": {"body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})},
}


async def _make_connector(relay: Relay, url: str) -> str:
    view = await relay.create_connector(
        "default",
        {
            "name": "outage",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "m"},
            "secrets": {"apiKey": "k"},
        },
    )
    return view.id


async def test_events_spool_during_outage_and_land_exactly_once_after_restart(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "home")
    real_write = EventRepository.write

    async def store_down(self: EventRepository, documents: object) -> int:
        raise StoreError("database is unavailable")

    monkeypatch.setattr(EventRepository, "write", store_down)
    async with Relay.open(settings) as relay:
        connector_id = await _make_connector(relay, upstream.url())
        for _ in range(5):
            result = await relay.execute("default", connector_id, RUN, ExecutionContext())
            assert result.ok  # an outage never fails a request
        await relay.writer.flush()
        assert relay.writer.stats["spooled"] >= 10
        assert settings.spool_path.exists()
    # the process stops while the store is still down; it comes back later
    monkeypatch.setattr(EventRepository, "write", real_write)
    async with Relay.open(settings) as relay:
        await relay.writer.replay_now()
        await relay.writer.flush()
        total, docs = await relay.store.events.find(
            space_id="default", connector_id=connector_id, per_page=100
        )
        # replaying again must not duplicate anything
        await relay.writer.replay_now()
        again, _ = await relay.store.events.find(
            space_id="default", connector_id=connector_id, per_page=100
        )
    assert total == 10 and again == 10
    ids = {doc["event"]["id"] for doc in docs}
    assert len(ids) == 10
    assert sorted(doc["event"]["action"] for doc in docs) == ["execute"] * 5 + ["execute-start"] * 5


async def test_88_refuses_to_run_without_encryption_key(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"home": tmp_path})
    with pytest.raises(ConfigurationError) as caught:
        async with Relay.open(settings):
            pass  # pragma: no cover - never reached
    assert str(caught.value).startswith(
        "Unable to create actions client because the Encrypted Saved Objects plugin is missing "
        "encryption key. Please set xpack.encryptedSavedObjects.encryptionKey"
    )


async def test_89_http_execution_is_never_retried(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.fail(500, "boom", times=3)
    async with Relay.open(make_settings(tmp_path / "home")) as relay:
        connector_id = await _make_connector(relay, upstream.url())
        result = await relay.execute("default", connector_id, RUN, ExecutionContext())
    assert result.retry is True  # informational, as in Kibana
    assert len(upstream.requests) == 1


async def test_updated_secrets_are_used_at_once(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with Relay.open(make_settings(tmp_path / "home")) as relay:
        connector_id = await _make_connector(relay, upstream.url())
        await relay.execute("default", connector_id, RUN, ExecutionContext())
        await relay.update_connector(
            "default",
            connector_id,
            {
                "name": "outage",
                "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
                "secrets": {"apiKey": "rotated"},
            },
        )
        await relay.execute("default", connector_id, RUN, ExecutionContext())
        await relay.delete_connector("default", connector_id)
        with pytest.raises(Exception) as gone:
            await relay.execute("default", connector_id, RUN, ExecutionContext())
    assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer k", "Bearer rotated"]
    assert "not found" in str(gone.value)
