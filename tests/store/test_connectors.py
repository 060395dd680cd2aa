from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from llmrelay.errors import ConnectorConflictError, ConnectorNotFoundError, DecryptionError
from llmrelay.store import Store, StoredConnector, open_store
from llmrelay.store.secretbox import SecretBox
from tests.store.conftest import KEY, Database

SECRET = "sk-the-plaintext-secret-3f9a1c"
NEW_SECRET = "sk-the-rotated-secret-77b2e0"
CONFIG: dict[str, object] = {
    "apiProvider": "OpenAI",
    "apiUrl": "https://api.openai.com/v1/chat/completions",
    "defaultModel": "gpt-4.1",
    "headers": {"X-B": "2", "X-A": "1"},
}


async def _create(
    store: Store, space: str = "default", id: str | None = "c1", name: str = "one"
) -> StoredConnector:
    return await store.connectors.create(
        space_id=space,
        id=id,
        name=name,
        connector_type_id=".gen-ai",
        config=CONFIG,
        secrets={"apiKey": SECRET},
    )


async def test_create_get_round_trip(store: Store) -> None:
    created = await _create(store)
    assert created.version == 1 and created.secrets == {"apiKey": SECRET}
    got = await store.connectors.get("default", "c1")
    assert got.config == CONFIG
    assert got.secrets == {"apiKey": SECRET}
    assert got.name == "one" and got.connector_type_id == ".gen-ai"
    assert not got.is_missing_secrets
    assert got.created_at == created.created_at and got.created_at.tzinfo is not None
    assert SECRET not in repr(got)


async def test_generated_id(store: Store) -> None:
    created = await _create(store, id=None)
    assert len(created.id) == 36
    assert (await store.connectors.get("default", created.id)).id == created.id


async def test_conflict_in_same_space_only(store: Store) -> None:
    await _create(store)
    with pytest.raises(ConnectorConflictError, match=r"\[action/c1\] conflict"):
        await _create(store)
    await _create(store, space="other")  # same id, other space: fine


async def test_spaces_are_isolated(store: Store) -> None:
    await _create(store, space="a")
    with pytest.raises(ConnectorNotFoundError, match=r"\[action/c1\] not found"):
        await store.connectors.get("b", "c1")
    assert await store.connectors.list("b") == []
    assert await store.connectors.revision_of("b", "c1") is None
    with pytest.raises(ConnectorNotFoundError):
        await store.connectors.delete("b", "c1")
    with pytest.raises(ConnectorNotFoundError):
        await store.connectors.update("b", "c1", name="x", config={}, secrets={})
    assert (await store.connectors.get("a", "c1")).space_id == "a"


async def test_list_sorted_by_name_without_decrypting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for id, name in [("1", "beta"), ("2", "Alpha"), ("3", "gamma"), ("4", "alpha")]:
        await _create(store, id=id, name=name)

    def no_decrypt(*args: object, **kwargs: object) -> dict[str, object]:
        raise AssertionError("list() must not decrypt")

    monkeypatch.setattr(SecretBox, "open", no_decrypt)
    listed = await store.connectors.list("default")
    assert [c.name for c in listed] == ["Alpha", "alpha", "beta", "gamma"]
    assert all(c.secrets == {} and c.config == CONFIG for c in listed)


async def test_update_replaces_and_bumps_version(store: Store) -> None:
    created = await _create(store)
    config = {**CONFIG, "defaultModel": "gpt-4o"}
    updated = await store.connectors.update(
        "default", "c1", name="renamed", config=config, secrets={"apiKey": NEW_SECRET}
    )
    assert updated.version == 2 and updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    got = await store.connectors.get("default", "c1")
    assert (got.name, got.config, got.secrets, got.version) == (
        "renamed",
        config,
        {"apiKey": NEW_SECRET},
        2,
    )
    revision = await store.connectors.revision_of("default", "c1")
    assert revision is not None and revision[0] == 2


async def test_delete(store: Store) -> None:
    await _create(store)
    await store.connectors.delete("default", "c1")
    with pytest.raises(ConnectorNotFoundError):
        await store.connectors.get("default", "c1")
    assert await store.connectors.revision_of("default", "c1") is None


async def test_secrets_never_in_database_files(store: Store, database: Database) -> None:
    await _create(store)
    data = await database.stored_bytes()
    assert b"api.openai.com" in data  # the search does see clear data
    assert SECRET.encode() not in data
    await store.connectors.update(
        "default", "c1", name="one", config=CONFIG, secrets={"apiKey": NEW_SECRET}
    )
    data = await database.stored_bytes()
    assert SECRET.encode() not in data and NEW_SECRET.encode() not in data
    await store.close()
    data = await database.stored_bytes()
    assert SECRET.encode() not in data and NEW_SECRET.encode() not in data


async def test_tampered_config_fails_loudly(store: Store, database: Database) -> None:
    await _create(store)
    await database.sql(
        "UPDATE connectors SET config = :config WHERE id = 'c1'",
        config='{"apiProvider":"OpenAI","apiUrl":"https://evil.example/v1"}',
    )
    with pytest.raises(DecryptionError, match="connector c1") as caught:
        await store.connectors.get("default", "c1")
    assert SECRET not in str(caught.value)
    assert len(await store.connectors.list("default")) == 1  # listing still works
    shown = await store.connectors.get("default", "c1", decrypt=False)  # API read
    assert shown.secrets == {} and shown.config["apiUrl"] == "https://evil.example/v1"


@pytest.mark.parametrize(
    ("column", "value"),
    [("connector_type_id", ".bedrock"), ("is_missing_secrets", True)],
)
async def test_tampered_attributes_fail(
    store: Store, database: Database, column: str, value: object
) -> None:
    await _create(store)
    await database.sql(f"UPDATE connectors SET {column} = :value WHERE id = 'c1'", value=value)  # noqa: S608
    with pytest.raises(DecryptionError):
        await store.connectors.get("default", "c1")


async def test_blob_moved_to_another_connector_fails(store: Store, database: Database) -> None:
    await _create(store, id="c1")
    await _create(store, id="c2")
    await database.sql(
        "UPDATE connectors SET secrets = "
        "(SELECT secrets FROM connectors WHERE id = 'c1') WHERE id = 'c2'",
    )
    with pytest.raises(DecryptionError, match="connector c2"):
        await store.connectors.get("default", "c2")


async def test_rename_in_database_still_decrypts(store: Store, database: Database) -> None:
    await _create(store)
    await database.sql("UPDATE connectors SET name = 'renamed by hand' WHERE id = 'c1'")
    got = await store.connectors.get("default", "c1")
    assert got.name == "renamed by hand" and got.secrets == {"apiKey": SECRET}


async def test_wrong_key_cannot_decrypt(store: Store, db_url: str) -> None:
    await _create(store)
    async with await open_store(db_url, encryption_key="another-key-" + "z" * 32) as other:
        with pytest.raises(DecryptionError, match="connector c1"):
            await other.connectors.get("default", "c1")


async def test_missing_secrets_flag(store: Store) -> None:
    created = await store.connectors.create(
        space_id="default",
        id="imp",
        name="imported",
        connector_type_id=".gen-ai",
        config=CONFIG,
        secrets={},
        is_missing_secrets=True,
    )
    assert created.is_missing_secrets and created.secrets == {}
    got = await store.connectors.get("default", "imp")
    assert got.is_missing_secrets and got.secrets == {}
    fixed = await store.connectors.update(
        "default", "imp", name="imported", config=CONFIG, secrets={"apiKey": SECRET}
    )
    assert not fixed.is_missing_secrets


def test_secretbox_blob_is_versioned_and_random() -> None:
    box = SecretBox(KEY)
    one = box.seal({"apiKey": SECRET}, aad=b"aad")
    two = box.seal({"apiKey": SECRET}, aad=b"aad")
    assert one[0] == 1 and one != two and one[1:13] != two[1:13]
    assert box.open(one, aad=b"aad", connector_id="x") == {"apiKey": SECRET}
    with pytest.raises(DecryptionError):
        box.open(b"\x02" + one[1:], aad=b"aad", connector_id="x")
    with pytest.raises(DecryptionError):
        box.open(one[:10], aad=b"aad", connector_id="x")


async def test_concurrent_updates_all_count(store: Store) -> None:
    await _create(store)

    async def rename(i: int) -> None:
        await store.connectors.update(
            "default", "c1", name=f"n{i}", config=CONFIG, secrets={"apiKey": SECRET}
        )

    await asyncio.gather(*(rename(i) for i in range(15)))
    revision = await store.connectors.revision_of("default", "c1")
    assert revision is not None and revision[0] == 16


async def test_times_are_aware_utc_with_microseconds(store: Store) -> None:
    created = await _create(store)
    got = await store.connectors.get("default", "c1")
    assert got.created_at == created.created_at and got.created_at.utcoffset() == timedelta(0)
    assert got.is_missing_secrets is False


async def test_unusual_names_and_ids_round_trip(store: Store) -> None:
    long_id = "x" * 1000
    await _create(store, id=long_id, name="Ünïcode 名前 " + "n" * 500)
    got = await store.connectors.get("default", long_id)
    assert got.name.startswith("Ünïcode 名前 ") and len(got.name) == 511
