"""The per-process connector cache: bounded staleness by revision, invalidation, one load
per key at a time, and serving from cache while the store is unreachable."""

from __future__ import annotations

import asyncio
import logging

import pytest

from llmrelay.errors import ConnectorNotFoundError, StoreError
from llmrelay.store import Store, StoredConnector, open_store
from llmrelay.store.connector_cache import ConnectorCache
from tests.store.conftest import KEY


def _key(stored: StoredConnector) -> object:
    return stored.secrets.get("apiKey")


async def _create(store: Store, key: str = "k1") -> None:
    await store.connectors.create(
        space_id="default",
        id="c1",
        name="c",
        connector_type_id=".gen-ai",
        config={"apiProvider": "Other", "apiUrl": "http://x"},
        secrets={"apiKey": key},
    )


async def _update(store: Store, key: str) -> None:
    await store.connectors.update(
        "default",
        "c1",
        name="c",
        config={"apiProvider": "Other", "apiUrl": "http://x"},
        secrets={"apiKey": key},
    )


async def test_a_change_elsewhere_is_seen_after_the_bound(store: Store, db_url: str) -> None:
    await _create(store)
    cache = ConnectorCache(store.connectors, _key, revalidate_after=0.2)
    assert await cache.get("default", "c1") == "k1"
    async with await open_store(db_url, encryption_key=KEY) as other:  # another process
        await _update(other, "k2")
        await other.connectors.delete("default", "c1")
        await _create(other, "k3")  # same id again, version 1 again
    await asyncio.sleep(0.25)  # the bound
    assert await cache.get("default", "c1") == "k3"  # the revision told them apart
    async with await open_store(db_url, encryption_key=KEY) as other:
        await other.connectors.delete("default", "c1")
    cache.invalidate("default", "c1")  # as a notification does: at once
    with pytest.raises(ConnectorNotFoundError):
        await cache.get("default", "c1")


async def test_concurrent_misses_load_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await _create(store)
    calls = 0
    real_get = store.connectors.get

    async def counted(space_id: str, id: str, *, decrypt: bool = True) -> StoredConnector:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return await real_get(space_id, id, decrypt=decrypt)

    monkeypatch.setattr(store.connectors, "get", counted)
    cache = ConnectorCache(store.connectors, _key)
    values = await asyncio.gather(*(cache.get("default", "c1") for _ in range(50)))
    assert values == ["k1"] * 50 and calls == 1


async def test_an_unreachable_store_serves_the_cached_copy_and_logs_once(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await _create(store)
    cache = ConnectorCache(store.connectors, _key, revalidate_after=0)
    assert await cache.get("default", "c1") == "k1"

    async def down(*_args: object) -> None:
        raise StoreError("database error: connection refused")

    monkeypatch.setattr(store.connectors, "revision_of", down)
    with caplog.at_level(logging.WARNING, logger="llmrelay.store.connector_cache"):
        for _ in range(3):
            assert await cache.get("default", "c1") == "k1"
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    cache.recheck_all()
    assert await cache.get("default", "c1") == "k1"
