"""The UI's session cookies and CSRF tokens, without a server: signing, expiry, revocation."""

from __future__ import annotations

import time
from typing import cast

from llmrelay.service import AccessService
from llmrelay.web.ui.sessions import SESSION_SECONDS, SessionManager

KEY = "k" * 40


def manager(key: str = KEY) -> SessionManager:
    # read/csrf/revoke never touch the store; principal() (which does) is tested over HTTP
    return SessionManager(key, cast(AccessService, None))


def test_a_cookie_names_its_user_until_it_expires() -> None:
    sessions = manager()
    before = time.time()
    cookie = sessions.issue("alice@example")
    session = sessions.read(cookie)
    assert session is not None and session.user == "alice@example"
    assert before + SESSION_SECONDS - 1 <= session.expires <= time.time() + SESSION_SECONDS
    assert sessions.read(cookie, now=session.expires - 1) == session
    assert sessions.read(cookie, now=session.expires) is None


def test_cookies_are_bound_to_the_key_and_unforgeable() -> None:
    cookie = manager().issue("alice")
    assert manager("o" * 40).read(cookie) is None
    payload, stamp, signature = cookie.rsplit(".", 2)
    other = manager().issue("mallory").rsplit(".", 2)[0]
    assert manager().read(f"{other}.{stamp}.{signature}") is None
    for bad in ("", "garbage", "a.b.c", f"{payload}.{stamp}.", "x" * 5000, "é.é.é"):
        assert manager().read(bad) is None


def test_csrf_token_is_per_session() -> None:
    sessions = manager()
    first, second = sessions.issue("alice"), sessions.issue("alice")
    token = sessions.csrf_token(first)
    assert token and sessions.csrf_ok(first, token)
    assert not sessions.csrf_ok(second, token)
    assert not sessions.csrf_ok(first, None) and not sessions.csrf_ok(first, "")
    assert not sessions.csrf_ok(first, token[:-2] + "é!")
    assert sessions.csrf_token("garbage") == "" and not sessions.csrf_ok("garbage", token)


def test_revoked_sessions_stay_revoked() -> None:
    sessions = manager()
    cookie, other = sessions.issue("alice"), sessions.issue("alice")
    sessions.revoke(cookie)
    sessions.revoke("garbage")  # a no-op
    assert sessions.read(cookie) is None and sessions.csrf_token(cookie) == ""
    assert sessions.read(other) is not None
