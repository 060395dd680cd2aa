"""Users (scrypt password hashes), API keys (peppered HMAC) and role grants per space.

Passwords: ``hashlib.scrypt`` (stdlib, memory-hard, OWASP-listed) with N=2^17, r=8, p=1,
run in a worker thread; the parameters are stored in each hash so they can be raised later
(hashes with old parameters are upgraded on the next successful login).

API keys are 256-bit random secrets, so a slow hash buys nothing: the store keeps
HMAC-SHA256(pepper, "<id>:<secret>") with a pepper derived from the encryption key. Lookup
is by id, comparison constant-time. Changing the encryption key invalidates API keys.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exc, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.domain.access import ALL_SPACES, ROLES, Grant
from llmrelay.errors import (
    ApiKeyNotFoundError,
    UnknownRoleError,
    UserExistsError,
    UserNotFoundError,
)
from llmrelay.store.schema import api_key_grants, api_keys, user_grants, users
from llmrelay.store.sql import reading, utcnow, writing


class _Grants:
    grants: tuple[Grant, ...]

    def roles_in(self, space: str) -> set[str]:
        """Roles that apply in ``space`` (grants for it and for ``*``)."""
        return {g.role for g in self.grants if g.space in (space, ALL_SPACES)}


@dataclass(frozen=True)
class User(_Grants):
    name: str
    grants: tuple[Grant, ...]
    created_at: datetime


@dataclass(frozen=True)
class ApiKey(_Grants):
    id: str
    name: str
    owner: str | None
    grants: tuple[Grant, ...]
    created_at: datetime


# --- password hashing ------------------------------------------------------------------
@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**17
    r: int = 8
    p: int = 1


PASSWORD_PARAMS = ScryptParams()


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=256 * params.n * params.r + 2**20,
        dklen=32,
    )


def hash_password(password: str, params: ScryptParams | None = None) -> str:
    params = params or PASSWORD_PARAMS
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, params)
    b64 = base64.b64encode
    return f"scrypt${params.n}${params.r}${params.p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(encoded: str) -> tuple[ScryptParams, bytes, bytes]:
    scheme, n, r, p, salt, digest = encoded.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    params = ScryptParams(int(n), int(r), int(p))
    return params, base64.b64decode(salt), base64.b64decode(digest)


def check_password(password: str, encoded: str) -> bool:
    params, salt, digest = _parse_hash(encoded)
    return hmac.compare_digest(_scrypt(password, salt, params), digest)


def _validated(roles: Sequence[str], spaces: Sequence[str]) -> list[Grant]:
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise UnknownRoleError(f"unknown role(s) {unknown}; known: {sorted(ROLES)}")
    if not spaces or any(not s for s in spaces):
        raise UnknownRoleError("grants need at least one non-empty space (or '*')")
    return [Grant(role, space) for role in dict.fromkeys(roles) for space in dict.fromkeys(spaces)]


def _name_order(name: str) -> tuple[str, str]:
    """Case-insensitive, then exact; sorted in Python because SQL collations differ between
    SQLite (bytes) and PostgreSQL (the database's locale)."""
    return name.casefold(), name


class UserRepository:
    def __init__(self, engine: AsyncEngine, pepper: bytes) -> None:
        self._engine = engine
        self._pepper = pepper
        self._dummy_hash: str | None = None

    # --- users -----------------------------------------------------------------------
    async def create_user(
        self, name: str, password: str, roles: Sequence[str], spaces: Sequence[str] = ("*",)
    ) -> User:
        if not name or name != name.strip():
            raise ValueError("a user name must be non-empty without surrounding spaces")
        grants = _validated(roles, spaces)
        encoded = await asyncio.to_thread(hash_password, password)
        now = utcnow()
        async with writing(self._engine) as conn:
            try:
                await conn.execute(
                    users.insert().values(
                        name=name, password_hash=encoded, created_at=now, updated_at=now
                    )
                )
            except exc.IntegrityError:
                raise UserExistsError(f"user {name!r} already exists") from None
            if grants:
                await conn.execute(
                    user_grants.insert(),
                    [{"user_name": name, "role": g.role, "space": g.space} for g in grants],
                )
        return User(name=name, grants=tuple(grants), created_at=now)

    async def get_user(self, name: str) -> User | None:
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).first()
            return None if row is None else await self._user(conn, row)

    async def verify_password(self, name: str, password: str) -> User | None:
        """The user when the password matches, else None (unknown names cost the same)."""
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).first()
            user = None if row is None else await self._user(conn, row)
        if row is None:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_hex(8))
            await asyncio.to_thread(check_password, password, self._dummy_hash)
            return None
        if not await asyncio.to_thread(check_password, password, row.password_hash):
            return None
        if _parse_hash(row.password_hash)[0] != PASSWORD_PARAMS:
            await self.set_password(name, password)  # upgrade old parameters
        return user

    async def set_password(self, name: str, password: str) -> None:
        encoded = await asyncio.to_thread(hash_password, password)
        async with writing(self._engine) as conn:
            result = await conn.execute(
                users.update()
                .where(users.c.name == name)
                .values(password_hash=encoded, updated_at=utcnow())
            )
            if result.rowcount == 0:
                raise UserNotFoundError(f"user {name!r} not found")

    async def set_roles(self, name: str, roles: Sequence[str], spaces: Sequence[str]) -> User:
        """Replace the user's grants with ``roles`` in ``spaces``."""
        grants = _validated(roles, spaces)
        async with writing(self._engine) as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).first()
            if row is None:
                raise UserNotFoundError(f"user {name!r} not found")
            await conn.execute(delete(user_grants).where(user_grants.c.user_name == name))
            if grants:
                await conn.execute(
                    user_grants.insert(),
                    [{"user_name": name, "role": g.role, "space": g.space} for g in grants],
                )
            await conn.execute(
                users.update().where(users.c.name == name).values(updated_at=utcnow())
            )
        return User(name=name, grants=tuple(sorted(grants)), created_at=row.created_at)

    async def delete_user(self, name: str) -> None:
        """Delete the user with their grants and the API keys they own."""
        async with writing(self._engine) as conn:
            result = await conn.execute(delete(users).where(users.c.name == name))
            if result.rowcount == 0:
                raise UserNotFoundError(f"user {name!r} not found")

    async def list_users(self) -> list[User]:
        async with reading(self._engine) as conn:
            rows = (await conn.execute(select(users))).all()
            found = [await self._user(conn, row) for row in rows]
        return sorted(found, key=lambda u: _name_order(u.name))

    async def _user(self, conn: AsyncConnection, row: Any) -> User:
        q = select(user_grants.c.role, user_grants.c.space).where(
            user_grants.c.user_name == row.name
        )
        grants = tuple(sorted(Grant(r.role, r.space) for r in await conn.execute(q)))
        return User(name=row.name, grants=grants, created_at=row.created_at)

    # --- API keys --------------------------------------------------------------------
    def _key_hash(self, key_id: str, secret: str) -> bytes:
        return hmac.digest(self._pepper, f"{key_id}:{secret}".encode(), "sha256")

    async def create_api_key(
        self,
        *,
        name: str,
        owner: str | None,
        roles: Sequence[str],
        spaces: Sequence[str] = ("*",),
    ) -> tuple[ApiKey, str]:
        """Returns the record and the credential ``base64("<id>:<secret>")``, shown once."""
        grants = _validated(roles, spaces)
        # hex: an id never starts with '-', which a command line would read as a flag
        key_id = secrets.token_hex(15)
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        async with writing(self._engine) as conn:
            try:
                await conn.execute(
                    api_keys.insert().values(
                        id=key_id,
                        name=name,
                        owner=owner,
                        secret_hash=self._key_hash(key_id, secret),
                        created_at=now,
                    )
                )
            except exc.IntegrityError:
                raise UserNotFoundError(f"owner {owner!r} is not a user") from None
            await conn.execute(
                api_key_grants.insert(),
                [{"api_key_id": key_id, "role": g.role, "space": g.space} for g in grants],
            )
        encoded = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        return ApiKey(key_id, name, owner, tuple(grants), now), encoded

    async def verify_api_key(self, encoded: str) -> ApiKey | None:
        """The key for a ``base64("<id>:<secret>")`` credential, or None."""
        try:
            key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not key_id or not secret:
            return None
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
            if row is None:
                return None
            if not hmac.compare_digest(self._key_hash(key_id, secret), row.secret_hash):
                return None
            return await self._api_key(conn, row)

    async def list_api_keys(self) -> list[ApiKey]:
        async with reading(self._engine) as conn:
            rows = (await conn.execute(select(api_keys))).all()
            found = [await self._api_key(conn, row) for row in rows]
        return sorted(found, key=lambda k: (*_name_order(k.name), k.id))

    async def delete_api_key(self, id: str) -> None:
        async with writing(self._engine) as conn:
            result = await conn.execute(delete(api_keys).where(api_keys.c.id == id))
            if result.rowcount == 0:
                raise ApiKeyNotFoundError(f"API key {id!r} not found")

    async def _api_key(self, conn: AsyncConnection, row: Any) -> ApiKey:
        q = select(api_key_grants.c.role, api_key_grants.c.space).where(
            api_key_grants.c.api_key_id == row.id
        )
        grants = tuple(sorted(Grant(r.role, r.space) for r in await conn.execute(q)))
        return ApiKey(row.id, row.name, row.owner, grants, row.created_at)
