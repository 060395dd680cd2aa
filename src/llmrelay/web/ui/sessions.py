"""Browser sessions: a signed cookie naming the user, and CSRF tokens bound to it.

The cookie is itsdangerous' URL-safe timed serializer output (a session id and the user,
a timestamp, an HMAC-SHA256 signature with a key derived from the encryption key), so
sessions survive restarts and work across instances that share the key. Nothing secret
is in it. The user's roles are read from the store on every request, so a role change or
a deleted user takes effect at once. Logging out adds the session id to a deny-list kept
until the session would have expired anyway.

Not Starlette's ``SessionMiddleware``: it would read every request's cookies (the ``/v1``
hot path too), sets ``Secure`` once for the app rather than per request, and has no
revocation or CSRF token.

CSRF: forms carry the token in a hidden field and page scripts send it in the
``x-csrf-token`` header; the token is a signature of the session id. The login form,
which has no session yet, uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadData, Signer, URLSafeTimedSerializer
from starlette.requests import Request

from llmrelay.service import AccessService, Principal

SESSION_COOKIE = "llmrelay_session"
LOGIN_CSRF_COOKIE = "llmrelay_login_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 8 * 3600
_MAX_COOKIE = 1024
_MAX_REVOKED = 100_000


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session cookie (not yet checked against the store)."""

    id: str
    user: str
    expires: int


class SessionManager:
    """Issues and verifies session cookies and the CSRF tokens that go with them."""

    def __init__(self, encryption_key: str, access: AccessService) -> None:
        self._cookies = URLSafeTimedSerializer(
            encryption_key,
            salt="llmrelay web session",
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self._csrf = Signer(encryption_key, salt="llmrelay csrf", digest_method=hashlib.sha256)
        self._access = access
        self._revoked: dict[str, int] = {}

    def issue(self, user: str) -> str:
        """A new cookie value for ``user``."""
        return self._cookies.dumps({"sid": secrets.token_urlsafe(18), "user": user})

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session in ``cookie`` when the signature is good and it has not expired."""
        if not cookie or len(cookie) > _MAX_COOKIE:
            return None
        try:
            payload, signed_at = self._cookies.loads(cookie, return_timestamp=True)
        except BadData:  # a bad signature or a mangled payload
            return None
        if not isinstance(payload, dict):
            return None
        session_id, user = payload.get("sid"), payload.get("user")
        if not isinstance(session_id, str) or not isinstance(user, str):
            return None
        expires = int(signed_at.timestamp()) + SESSION_SECONDS
        if expires <= (now if now is not None else time.time()) or session_id in self._revoked:
            return None
        return Session(session_id, user, expires)

    async def principal(self, cookie: str | None) -> Principal | None:
        """The user behind a valid session, with the roles the store holds now."""
        session = self.read(cookie)
        if session is None:
            return None
        return await self._access.session_principal(session.user)

    def csrf_token(self, cookie: str | None) -> str:
        session = self.read(cookie)
        if session is None:
            return ""
        return self._csrf.get_signature(session.id).decode("ascii")

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        session = self.read(cookie)
        if session is None or not token:
            return False
        return self._csrf.verify_signature(session.id, token)

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
        manager = SessionManager(key, state.relay.access)
        state.sessions = manager
    return manager


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (cookies then get ``Secure``)."""
    return request.url.scheme == "https"
