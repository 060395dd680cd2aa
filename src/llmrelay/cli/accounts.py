"""``llmrelay users ...`` and ``llmrelay api-keys ...``: work on the data dir directly,
also while the server runs, so an operator can bootstrap access before any key exists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from llmrelay.cli.common import ConfigOption, fail, out_console, settings_or_exit
from llmrelay.domain.access import ROLES
from llmrelay.errors import LlmrelayError
from llmrelay.service import AccessService, open_access, prepare_home

users_app = typer.Typer(help="Manage users (HTTP Basic) and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (Authorization: ApiKey ...).", no_args_is_help=True)

T = TypeVar("T")
RolesOption = Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(sorted(ROLES))}.")]
SpacesOption = Annotated[str, typer.Option(help="Comma-separated spaces, or * for all.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


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


def _grants(grants: object) -> str:
    return ", ".join(f"{g.role}@{g.space}" for g in grants)  # type: ignore[attr-defined]


@users_app.command("create")
def create_user(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="The password.")],
    roles: RolesOption = "connectors_read",
    spaces: SpacesOption = "*",
    config: ConfigOption = None,
) -> None:
    """Create a user with roles in some spaces."""
    user = _with_access(
        config, lambda a: a.create_user(name, password, _split(roles), _split(spaces))
    )
    out_console.print(f"created user {user.name} ({_grants(user.grants)})")


@users_app.command("list")
def list_users(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List users and their grants."""
    users = _with_access(config, lambda a: a.list_users())
    if as_json:
        rows = [
            {"name": u.name, "grants": [{"role": g.role, "space": g.space} for g in u.grants]}
            for u in users
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "roles@spaces", "created")
    for u in users:
        table.add_row(u.name, _grants(u.grants), u.created_at.isoformat(timespec="seconds"))
    out_console.print(table)


@users_app.command("delete")
def delete_user(name: str, config: ConfigOption = None) -> None:
    """Delete a user."""
    _with_access(config, lambda a: a.delete_user(name))
    out_console.print(f"deleted user {name}")


@users_app.command("set-password")
def set_password(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="New password.")],
    config: ConfigOption = None,
) -> None:
    """Change a user's password."""
    _with_access(config, lambda a: a.set_password(name, password))
    out_console.print(f"password changed for {name}")


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="A label for the key.")],
    roles: RolesOption = "connectors_read",
    spaces: SpacesOption = "*",
    owner: Annotated[str | None, typer.Option(help="User name recorded in events.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key; the encoded key is printed once, keep it."""
    key, encoded = _with_access(
        config,
        lambda a: a.create_api_key(
            name=name, owner=owner, roles=_split(roles), spaces=_split(spaces)
        ),
    )
    out_console.print(f"created API key {key.id} ({_grants(key.grants)}); shown once:")
    print(encoded)


@keys_app.command("list")
def list_keys(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List API keys (never their secrets)."""
    keys = _with_access(config, lambda a: a.list_api_keys())
    if as_json:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "owner": k.owner,
                "grants": [{"role": g.role, "space": g.space} for g in k.grants],
            }
            for k in keys
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "owner", "roles@spaces")
    for k in keys:
        table.add_row(k.id, k.name, k.owner or "", _grants(k.grants))
    out_console.print(table)


@keys_app.command("delete")
def delete_key(key_id: str, config: ConfigOption = None) -> None:
    """Delete (revoke) an API key."""
    _with_access(config, lambda a: a.delete_api_key(key_id))
    out_console.print(f"deleted API key {key_id}")
