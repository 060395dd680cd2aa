from __future__ import annotations

import base64
import re

import pytest

from llmrelay.errors import (
    ApiKeyNotFoundError,
    UnknownRoleError,
    UserExistsError,
    UserNotFoundError,
)
from llmrelay.store import Grant, Store, open_store
from llmrelay.store import users as users_module
from tests.store.conftest import Database

PASSWORD = "correct-horse-battery-staple-91"


async def test_passwords_hashed_and_verified(store: Store, database: Database) -> None:
    user = await store.users.create_user("alice", PASSWORD, ["connectors_read"])
    assert user.grants == (Grant("connectors_read", "*"),)
    data = await database.stored_bytes()
    assert b"scrypt$" in data and PASSWORD.encode() not in data
    assert (await store.users.verify_password("alice", PASSWORD)) == user
    assert await store.users.verify_password("alice", PASSWORD + "x") is None
    assert await store.users.verify_password("nobody", PASSWORD) is None


async def test_duplicate_user(store: Store) -> None:
    await store.users.create_user("alice", PASSWORD, [])
    with pytest.raises(UserExistsError, match="alice"):
        await store.users.create_user("alice", "other", [])


async def test_set_password_and_delete(store: Store) -> None:
    await store.users.create_user("bob", PASSWORD, ["admin"])
    await store.users.set_password("bob", "new-password-123")
    assert await store.users.verify_password("bob", PASSWORD) is None
    assert await store.users.verify_password("bob", "new-password-123") is not None
    await store.users.delete_user("bob")
    assert await store.users.verify_password("bob", "new-password-123") is None
    with pytest.raises(UserNotFoundError):
        await store.users.delete_user("bob")
    with pytest.raises(UserNotFoundError):
        await store.users.set_password("bob", "x")


async def test_list_users_with_grants(store: Store) -> None:
    await store.users.create_user("zed", PASSWORD, ["usage_read"], ["s1", "s2"])
    await store.users.create_user("amy", PASSWORD, ["admin"])
    listed = await store.users.list_users()
    assert [u.name for u in listed] == ["amy", "zed"]
    assert set(listed[1].grants) == {Grant("usage_read", "s1"), Grant("usage_read", "s2")}


async def test_roles_in_space(store: Store) -> None:
    user = await store.users.create_user("carol", PASSWORD, ["connectors_all"], ["marketing"])
    assert user.roles_in("marketing") == {"connectors_all"}
    assert user.roles_in("default") == set()
    everywhere = await store.users.create_user("dave", PASSWORD, ["usage_read"])
    assert everywhere.roles_in("anything") == {"usage_read"}
    fetched = await store.users.get_user("carol")
    assert fetched is not None and fetched.roles_in("marketing") == {"connectors_all"}
    assert await store.users.get_user("nobody") is None


async def test_unknown_role_rejected(store: Store) -> None:
    with pytest.raises(UnknownRoleError, match="superuser"):
        await store.users.create_user("eve", PASSWORD, ["superuser"])
    with pytest.raises(UnknownRoleError):
        await store.users.create_api_key(name="k", owner=None, roles=["root"])


async def test_old_hash_parameters_upgraded_on_login(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.users.create_user("frank", PASSWORD, [])
    stronger = users_module.ScryptParams(n=2**11)
    monkeypatch.setattr(users_module, "PASSWORD_PARAMS", stronger)
    assert await store.users.verify_password("frank", PASSWORD) is not None
    async with store.engine.connect() as conn:
        stored = (await conn.exec_driver_sql("SELECT password_hash FROM users")).scalar()
    assert str(stored).startswith("scrypt$2048$8$1$")


def test_production_hash_format() -> None:
    encoded = users_module.hash_password(PASSWORD, users_module.ScryptParams())
    assert encoded.startswith("scrypt$131072$8$1$") and PASSWORD not in encoded
    assert users_module.check_password(PASSWORD, encoded)  # ~0.5 s per scrypt call


async def test_api_key_lifecycle(store: Store, database: Database) -> None:
    await store.users.create_user("owner", PASSWORD, ["admin"])
    key, credential = await store.users.create_api_key(
        name="ci", owner="owner", roles=["connectors_read", "usage_read"], spaces=["default"]
    )
    key_id, secret = base64.b64decode(credential).decode().split(":")
    assert key_id == key.id and len(secret) >= 40
    data = await database.stored_bytes()
    assert key_id.encode() in data
    assert secret.encode() not in data and credential.encode() not in data

    verified = await store.users.verify_api_key(credential)
    assert verified == key
    assert verified.roles_in("default") == {"connectors_read", "usage_read"}
    assert verified.roles_in("other") == set()
    assert [k.id for k in await store.users.list_api_keys()] == [key.id]

    await store.users.delete_api_key(key.id)
    assert await store.users.verify_api_key(credential) is None
    with pytest.raises(ApiKeyNotFoundError):
        await store.users.delete_api_key(key.id)


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "not base64!",
        base64.b64encode(b"no-colon").decode(),
        base64.b64encode(b"unknown:secret").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_bad_api_key_credentials(store: Store, credential: str) -> None:
    await store.users.create_api_key(name="k", owner=None, roles=["admin"])
    assert await store.users.verify_api_key(credential) is None


async def test_api_key_wrong_secret(store: Store) -> None:
    key, _ = await store.users.create_api_key(name="k", owner=None, roles=["admin"])
    forged = base64.b64encode(f"{key.id}:guessed".encode()).decode()
    assert await store.users.verify_api_key(forged) is None


async def test_api_keys_die_with_owner_and_key(store: Store, db_url: str) -> None:
    await store.users.create_user("gina", PASSWORD, [])
    _, credential = await store.users.create_api_key(name="k", owner="gina", roles=["admin"])
    async with await open_store(db_url, encryption_key="a-different-key-" + "q" * 32) as other:
        assert await other.users.verify_api_key(credential) is None  # pepper changed
    await store.users.delete_user("gina")
    assert await store.users.verify_api_key(credential) is None
    with pytest.raises(UserNotFoundError):
        await store.users.create_api_key(name="k", owner="nobody", roles=["admin"])


@pytest.mark.parametrize("name", ["", " padded "])
async def test_bad_user_names(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="user name"):
        await store.users.create_user(name, PASSWORD, [])


async def test_users_and_keys_sorted_case_insensitively_on_every_backend(store: Store) -> None:
    for name in ["bob", "Alice", "_ops", "Émile", "alice", "Bob", "zoe"]:
        await store.users.create_user(name, PASSWORD, [])
        await store.users.create_api_key(name=name, owner=None, roles=["admin"])
    # casefold, then exact; by code point, so accented capitals sort after "z" everywhere
    expected = ["_ops", "Alice", "alice", "Bob", "bob", "zoe", "Émile"]
    assert [u.name for u in await store.users.list_users()] == expected
    assert [k.name for k in await store.users.list_api_keys()] == expected


async def test_api_key_ids_are_lowercase_hex(store: Store) -> None:
    """An id is typed on command lines (`llmrelay api-keys revoke <id>`, limits' `api_key`
    scope): it never starts with '-', which would be read as a flag."""
    for _ in range(8):
        key, _credential = await store.users.create_api_key(name="k", owner=None, roles=["admin"])
        assert re.fullmatch("[0-9a-f]{30}", key.id), key.id
