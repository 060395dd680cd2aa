"""``llmrelay users ...`` and ``llmrelay api-keys ...``: on the data dir directly (also
while the server runs, so an operator can bootstrap access before any key exists), or, with
``--relay-url`` / ``LLMRELAY_URL``, on a running llmrelay through its HTTP API (an admin
API key of all spaces), like ``llmrelay connectors``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from llmrelay.cli.common import ConfigOption, fail, out_console, settings_or_exit
from llmrelay.cli.remote import (
    RelayKeyOption,
    Remote,
    UrlOption,
    cell,
    open_remote,
    path_id,
    reported,
)
from llmrelay.domain.access import ROLES
from llmrelay.errors import LlmrelayError
from llmrelay.service import AccessService, api_key_json, open_access, prepare_home, user_json

users_app = typer.Typer(help="Manage users (HTTP Basic) and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (Authorization: ApiKey ...).", no_args_is_help=True)

T = TypeVar("T")
RolesOption = Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(sorted(ROLES))}.")]
SpacesOption = Annotated[str, typer.Option(help="Comma-separated spaces, or * for all.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Row = dict[str, Any]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _with_access(config: object, action: Callable[[AccessService], Awaitable[T]]) -> T:
    async def run() -> T:
        async with open_access(settings) as access:
            return await action(access)

    try:
        settings, _ = prepare_home(settings_or_exit(config))  # type: ignore[arg-type]
        return asyncio.run(run())
    except LlmrelayError as err:
        raise fail(str(err)) from None


def _on(
    config: object,
    relay_url: str | None,
    relay_key: str | None,
    local: Callable[[AccessService], Awaitable[T]],
    remote: Callable[[Remote], T],
) -> T:
    """Run ``remote`` against a running llmrelay when a URL is given, else ``local``."""
    if not relay_url:
        return _with_access(config, local)
    with reported(), open_remote(relay_url, relay_key, "default") as client:
        return remote(client)


def _grants(row: Row) -> str:
    return ", ".join(f"{g['role']}@{g['space']}" for g in row["grants"])


def _created(row: Row) -> str:
    return str(row.get("created_at", ""))[:19]


async def _user_list(access: AccessService) -> list[Row]:
    return [user_json(u) for u in await access.list_users()]


async def _key_list(access: AccessService) -> list[Row]:
    return [api_key_json(k) for k in await access.list_api_keys()]


@users_app.command("create")
def create_user(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="The password.")],
    roles: RolesOption = "connectors_read",
    spaces: SpacesOption = "*",
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Create a user with roles in some spaces."""
    body = {"name": name, "password": password, "roles": _split(roles), "spaces": _split(spaces)}

    async def local(a: AccessService) -> Row:
        return user_json(await a.create_user(name, password, body["roles"], body["spaces"]))

    user = _on(
        config, relay_url, relay_key, local, lambda r: r.post("/llmrelay/users", body, expect=dict)
    )
    out_console.print(f"created user {cell(user['name'])} ({cell(_grants(user))})")


@users_app.command("list")
def list_users(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """List users and their grants."""
    users: list[Row] = _on(
        config, relay_url, relay_key, _user_list, lambda r: r.get("/llmrelay/users", expect=list)
    )
    if as_json:
        print(json.dumps([{"name": u["name"], "grants": u["grants"]} for u in users], indent=2))
        return
    table = Table("name", "roles@spaces", "created")
    for u in users:
        table.add_row(cell(u["name"]), cell(_grants(u)), _created(u))
    out_console.print(table)


@users_app.command("delete")
def delete_user(
    name: str,
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Delete a user."""
    _on(
        config,
        relay_url,
        relay_key,
        lambda a: a.delete_user(name),
        lambda r: r.delete(f"/llmrelay/users/{path_id(name)}"),
    )
    out_console.print(f"deleted user {cell(name)}")


@users_app.command("set-password")
def set_password(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="New password.")],
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Change a user's password."""
    _on(
        config,
        relay_url,
        relay_key,
        lambda a: a.set_password(name, password),
        lambda r: r.put(f"/llmrelay/users/{path_id(name)}/password", {"password": password}),
    )
    out_console.print(f"password changed for {cell(name)}")


@users_app.command("set-roles")
def set_roles(
    name: str,
    roles: RolesOption = "connectors_read",
    spaces: SpacesOption = "*",
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Replace a user's roles and spaces."""
    body = {"roles": _split(roles), "spaces": _split(spaces)}

    async def local(a: AccessService) -> Row:
        return user_json(await a.set_user_roles(name, body["roles"], body["spaces"]))

    user = _on(
        config,
        relay_url,
        relay_key,
        local,
        lambda r: r.put(f"/llmrelay/users/{path_id(name)}/roles", body, expect=dict),
    )
    out_console.print(f"roles of {cell(user['name'])}: {cell(_grants(user))}")


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="A label for the key.")],
    roles: RolesOption = "connectors_read",
    spaces: SpacesOption = "*",
    owner: Annotated[str | None, typer.Option(help="User name recorded in events.")] = None,
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Create an API key; the encoded key is printed once, keep it."""
    role_list, space_list = _split(roles), _split(spaces)
    body = {"name": name, "owner": owner, "roles": role_list, "spaces": space_list}

    async def local(a: AccessService) -> Row:
        key, encoded = await a.create_api_key(
            name=name, owner=owner, roles=role_list, spaces=space_list
        )
        return {**api_key_json(key), "api_key": encoded}

    key = _on(
        config,
        relay_url,
        relay_key,
        local,
        lambda r: r.post("/llmrelay/api_keys", body, expect=dict),
    )
    out_console.print(f"created API key {cell(key['id'])} ({cell(_grants(key))}); shown once:")
    print(key["api_key"])


@keys_app.command("list")
def list_keys(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """List API keys (never their secrets)."""
    keys: list[Row] = _on(
        config, relay_url, relay_key, _key_list, lambda r: r.get("/llmrelay/api_keys", expect=list)
    )
    if as_json:
        shown = ("id", "name", "owner", "grants")
        print(json.dumps([{k: row[k] for k in shown} for row in keys], indent=2))
        return
    table = Table("id", "name", "owner", "roles@spaces")
    for k in keys:
        table.add_row(cell(k["id"]), cell(k["name"]), cell(k["owner"] or ""), cell(_grants(k)))
    out_console.print(table)


@keys_app.command("delete")
def delete_key(
    key_id: str,
    config: ConfigOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
) -> None:
    """Delete (revoke) an API key."""
    _on(
        config,
        relay_url,
        relay_key,
        lambda a: a.delete_api_key(key_id),
        lambda r: r.delete(f"/llmrelay/api_keys/{path_id(key_id)}"),
    )
    out_console.print(f"deleted API key {cell(key_id)}")
