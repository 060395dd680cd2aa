"""Which spaces exist: created on purpose, or named by a connector or a grant; and a user's
roles replaced at once (both over SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from llmrelay.errors import UserNotFoundError
from llmrelay.store import Grant, Store


async def test_spaces_created_or_in_use(store: Store) -> None:
    assert not await store.spaces.exists("made")
    assert await store.spaces.create("made") is True
    assert await store.spaces.create("made") is False
    await store.users.create_user("u", "pw", ["usage_read"], ["granted", "*"])
    await store.users.create_api_key(name="k", owner=None, roles=["admin"], spaces=["keyed"])
    for space in ("made", "granted", "keyed"):
        assert await store.spaces.exists(space), space
    assert "*" not in await store.spaces.list()  # "all spaces" is not a space
    assert not await store.spaces.exists("elsewhere")
    assert await store.spaces.list() == ["granted", "keyed", "made"]


async def test_set_roles_replaces_the_grants(store: Store) -> None:
    await store.users.create_user("r", "pw", ["usage_read"], ["*"])
    user = await store.users.set_roles("r", ["connectors_read", "usage_read"], ["a"])
    assert user.grants == (Grant("connectors_read", "a"), Grant("usage_read", "a"))
    stored = await store.users.get_user("r")
    assert stored is not None and stored.grants == user.grants
    with pytest.raises(UserNotFoundError):
        await store.users.set_roles("nobody", ["admin"], ["*"])
