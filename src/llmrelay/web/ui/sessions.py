"""Browser sessions: a signed cookie naming the user, and CSRF tokens bound to it.

The cookie holds ``<session id>.<user>.<expiry>.<signature>`` (HMAC-SHA256 with a key
derived from the encryption key), so sessions survive restarts and work across instances
that share the key. Nothing secret is in it. The user's roles are read from the store on
every request, so a role change or a deleted user takes effect at once. Logging out adds
the session id to a deny-list kept until the session would have expired anyway.

CSRF: forms carry the token in a hidden field and page scripts send it in the
``x-csrf-token`` header; the token is an HMAC of the session id. The login form, which
has no session yet, uses a double-submit cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from llmrelay.store.users import UserRepository
from llmrelay.web.auth import Principal

SESSION_COOKIE = "llmrelay_session"
LOGIN_CSRF_COOKIE = "llmrelay_login_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 8 * 3600
_MAX_REVOKED = 100_000


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session cookie (not yet checked against the store)."""

    id: str
    user: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionManager:
    """Issues and verifies session cookies and the CSRF tokens that go with them."""

    def __init__(self, encryption_key: str, users: UserRepository) -> None:
        self._key = hmac.new(
            encryption_key.encode("utf-8"), b"llmrelay web session v1", hashlib.sha256
        ).digest()
        self._users = users
        self._revoked: dict[str, int] = {}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest())

    def issue(self, user: str, *, now: float | None = None) -> str:
        """A new cookie value for ``user``."""
        expires = int(now if now is not None else time.time()) + SESSION_SECONDS
        payload = f"{_b64(secrets.token_bytes(18))}.{_b64(user.encode('utf-8'))}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session in ``cookie`` when the signature is good and it has not expired."""
        if not cookie or len(cookie) > 1024:
            return None
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        session_id, user_b64, expires_text, signature = parts
        payload = f"{session_id}.{user_b64}.{expires_text}"
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            user = _unb64(user_b64).decode("utf-8")
            expires = int(expires_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if expires <= (now if now is not None else time.time()) or session_id in self._revoked:
            return None
        return Session(session_id, user, expires)

    async def principal(self, cookie: str | None) -> Principal | None:
        """The user behind a valid session, with the roles the store holds now."""
        session = self.read(cookie)
        if session is None:
            return None
        user = await self._users.get_user(session.user)
        if user is None:
            return None
        return Principal(user.name, "user", user.grants)

    def csrf_token(self, cookie: str | None) -> str:
        session = self.read(cookie)
        if session is None:
            return ""
        return self._sign("csrf:" + session.id)

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        expected = self.csrf_token(cookie)
        return bool(expected and token) and hmac.compare_digest(expected, token or "")

    def revoke(self, cookie: str | None) -> None:
        session = self.read(cookie)
        if session is None:
            return
        now = int(time.time())
        if len(self._revoked) >= _MAX_REVOKED:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._revoked[session.id] = session.expires


def sessions_of(request: Request) -> SessionManager:
    """The app's session manager, created on first use from the app's settings and store."""
    state = request.app.state
    manager: SessionManager | None = getattr(state, "sessions", None)
    if manager is None:
        key = state.settings.encryption_key or ""
        manager = SessionManager(key, state.relay.store.users)
        state.sessions = manager
    return manager


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (cookies then get ``Secure``)."""
    return request.url.scheme == "https"
