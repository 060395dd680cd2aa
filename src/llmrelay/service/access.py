"""Who is calling, and may they: authentication (``authenticator.py``), principals and
their privileges (``principals.py``), and the users and API keys behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from llmrelay.service.authenticator import Authenticator
from llmrelay.service.principals import Principal, user_principal
from llmrelay.settings import Settings
from llmrelay.store import ApiKey, User, UserRepository, open_store


class AccessService:
    """Authentication, and the users and API keys behind it."""

    def __init__(self, users: UserRepository) -> None:
        self._users = users
        self._authenticator = Authenticator(users)
        # the hot path calls this for every request: the bound method, not a forwarder
        self.authenticate = self._authenticator.authenticate

    async def session_principal(self, user_name: str) -> Principal | None:
        """The user a session names, with the roles the store holds now (None: gone)."""
        user = await self._users.get_user(user_name)
        return None if user is None else user_principal(user)

    async def verify_password(self, name: str, password: str) -> Principal | None:
        """The user when the password matches (the UI's login form), else None."""
        user = await self._users.verify_password(name, password)
        return None if user is None else user_principal(user)

    # --- users and API keys -----------------------------------------------------------
    async def create_user(
        self, name: str, password: str, roles: Sequence[str], spaces: Sequence[str] = ("*",)
    ) -> User:
        return await self._users.create_user(name, password, roles, spaces)

    async def list_users(self) -> list[User]:
        return await self._users.list_users()

    async def has_users(self) -> bool:
        return bool(await self._users.list_users())

    async def set_user_roles(self, name: str, roles: Sequence[str], spaces: Sequence[str]) -> User:
        user = await self._users.set_roles(name, roles, spaces)
        self._authenticator.forget()
        return user

    async def delete_user(self, name: str) -> None:
        await self._users.delete_user(name)
        self._authenticator.forget()

    async def set_password(self, name: str, password: str) -> None:
        await self._users.set_password(name, password)
        self._authenticator.forget()

    async def create_api_key(
        self,
        *,
        name: str,
        owner: str | None,
        roles: Sequence[str],
        spaces: Sequence[str] = ("*",),
    ) -> tuple[ApiKey, str]:
        """The key and its credential ``base64("<id>:<secret>")``, shown once."""
        return await self._users.create_api_key(name=name, owner=owner, roles=roles, spaces=spaces)

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._users.list_api_keys()

    async def delete_api_key(self, key_id: str) -> None:
        await self._users.delete_api_key(key_id)
        self._authenticator.forget()

    def forget(self) -> None:
        """Drop this process's cached verifications (after a change made elsewhere)."""
        self._authenticator.forget()


def user_json(user: User) -> dict[str, object]:
    """A user as the users API answers and ``llmrelay users`` prints it (no secret)."""
    return {"name": user.name, "grants": _grants_json(user), "created_at": _time(user)}


def api_key_json(key: ApiKey) -> dict[str, object]:
    """An API key as the API keys API answers and ``llmrelay api-keys`` prints it (without
    its credential, which only its creation returns)."""
    return {
        "id": key.id,
        "name": key.name,
        "owner": key.owner,
        "grants": _grants_json(key),
        "created_at": _time(key),
    }


def _grants_json(item: User | ApiKey) -> list[dict[str, str]]:
    return [{"role": g.role, "space": g.space} for g in item.grants]


def _time(item: User | ApiKey) -> str:
    return item.created_at.isoformat()


@asynccontextmanager
async def open_access(settings: Settings) -> AsyncIterator[AccessService]:
    """Users and API keys of the data dir without the rest of the service (the CLI's
    account commands, also while a server runs on the same store)."""
    store = await open_store(settings.database_url, encryption_key=settings.encryption_key or "")
    try:
        yield AccessService(store.users)
    finally:
        await store.close()
