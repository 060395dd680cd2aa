"""Relay, the service as a library: the event log survives a store outage and a restart
(each event exactly once), the service refuses to run without an encryption key, and a
start-up that fails closes what it opened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmrelay.errors import ConfigurationError, StoreError
from llmrelay.service import ExecutionContext, Relay
from llmrelay.service import relay as relay_module
from llmrelay.settings import load_settings
from llmrelay.store import Store
from llmrelay.store.events import EventRepository
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import make_settings

RUN = {
    "subAction": "run",
    "subActionParams": {"body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})},
}


async def _make_connector(relay: Relay, url: str) -> str:
    view = await relay.connectors.create(
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
        await relay.usage.flush()
        assert relay.health.writer_stats()["spooled"] >= 10
        assert settings.spool_path.exists()
    # the process stops while the store is still down; it comes back later
    monkeypatch.setattr(EventRepository, "write", real_write)
    async with Relay.open(settings) as relay:
        await relay.usage.replay_spool()
        await relay.usage.flush()
        total, docs = await relay.usage.find_events("default", connector_id, per_page=100)
        # replaying again must not duplicate anything
        await relay.usage.replay_spool()
        again, _ = await relay.usage.find_events("default", connector_id, per_page=100)
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
        await relay.connectors.update(
            "default",
            connector_id,
            {
                "name": "outage",
                "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
                "secrets": {"apiKey": "rotated"},
            },
        )
        await relay.execute("default", connector_id, RUN, ExecutionContext())
        await relay.connectors.delete("default", connector_id)
        with pytest.raises(Exception) as gone:
            await relay.execute("default", connector_id, RUN, ExecutionContext())
    assert [r.headers["authorization"] for r in upstream.requests] == ["Bearer k", "Bearer rotated"]
    assert "not found" in str(gone.value)


async def test_a_refused_preconfigured_connector_leaves_nothing_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Store] = []
    closed: list[Store] = []
    real_open, real_close = relay_module.open_store, Store.close

    async def recording_open(url: str, *, encryption_key: str) -> Store:
        store = await real_open(url, encryption_key=encryption_key)
        opened.append(store)
        return store

    async def recording_close(self: Store) -> None:
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(relay_module, "open_store", recording_open)
    monkeypatch.setattr(Store, "close", recording_close)
    bad = {"bad": {"name": "bad", "actionTypeId": ".gen-ai", "config": {"apiProvider": "Nope"}}}
    settings = make_settings(tmp_path / "home", **{"xpack.actions.preconfigured": bad})
    with pytest.raises(ConfigurationError) as caught:
        async with Relay.open(settings):
            pass  # pragma: no cover - never reached
    assert str(caught.value).startswith("xpack.actions.preconfigured.bad: ")
    assert len(opened) == 1 and closed == opened


async def test_the_facade_offers_services_not_parts(tmp_path: Path) -> None:
    async with Relay.open(make_settings(tmp_path / "home")) as relay:
        public = {name for name in vars(relay) if not name.startswith("_")}
        report = await relay.health.report()
    assert public == {"connectors", "execution", "usage", "access", "health", "limits", "spaces"}
    assert report.overall["level"] == "available"
