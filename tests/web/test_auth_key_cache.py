"""API-key verification under concurrency: one store round trip per key at a time, and a
``forget()`` (key deleted, roles changed) is never undone by a verification in flight."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmrelay.errors import UnauthenticatedError
from llmrelay.service.authenticator import Authenticator
from llmrelay.store import Store, UserRepository, open_store

KEY = "test-encryption-key-0123456789abcdef"


class CountingUsers:
    """The real repository, counting (and optionally holding) its API-key verifications."""

    def __init__(self, users: UserRepository) -> None:
        self._users = users
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def verify_api_key(self, encoded: str):  # type: ignore[no-untyped-def]
        self.calls += 1
        await self.gate.wait()
        return await self._users.verify_api_key(encoded)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", encryption_key=KEY) as s:
        yield s


async def _key(store: Store) -> str:
    await store.users.create_user("app", "app-password-1", ["connectors_read"], ["*"])
    _, encoded = await store.users.create_api_key(
        name="app", owner="app", roles=["connectors_read"], spaces=["*"]
    )
    return encoded


async def test_concurrent_misses_verify_once(store: Store) -> None:
    users = CountingUsers(store.users)
    auth = Authenticator(users)  # type: ignore[arg-type]
    header = f"ApiKey {await _key(store)}"
    users.gate.clear()
    waiting = [asyncio.create_task(auth.authenticate(header)) for _ in range(16)]
    await asyncio.sleep(0.01)
    users.gate.set()
    principals = await asyncio.gather(*waiting)
    assert users.calls == 1
    assert {p.name for p in principals} == {"app"}
    await auth.authenticate(header)  # cached now
    assert users.calls == 1


async def test_invalid_key_rejects_every_waiter(store: Store) -> None:
    users = CountingUsers(store.users)
    auth = Authenticator(users)  # type: ignore[arg-type]
    encoded = await _key(store)
    key_id = base64.b64decode(encoded).decode().partition(":")[0]
    wrong = base64.b64encode(f"{key_id}:not-the-secret".encode()).decode()
    users.gate.clear()
    waiting = [asyncio.create_task(auth.authenticate(f"ApiKey {wrong}")) for _ in range(4)]
    await asyncio.sleep(0.01)
    users.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert users.calls == 1
    assert all(isinstance(r, UnauthenticatedError) for r in results)


async def test_forget_during_verification_is_not_undone(store: Store) -> None:
    users = CountingUsers(store.users)
    auth = Authenticator(users)  # type: ignore[arg-type]
    header = f"ApiKey {await _key(store)}"
    users.gate.clear()
    first = asyncio.create_task(auth.authenticate(header))
    await asyncio.sleep(0.01)
    auth.forget()  # e.g. the key was deleted while its verification was in flight
    users.gate.set()
    assert (await first).name == "app"
    await auth.authenticate(header)
    assert users.calls == 2  # the in-flight result was not cached past forget()
