"""Per-request helpers shared by the route modules: caller, space, xsrf, the relay."""

from __future__ import annotations

from starlette.requests import Request

from llmrelay.domain.access import Privilege
from llmrelay.errors import BadRequestError, ForbiddenError, UnauthenticatedError
from llmrelay.service import AccessService, Principal, Relay
from llmrelay.web.ui.sessions import CSRF_HEADER, SESSION_COOKIE, sessions_of

DEFAULT_SPACE = "default"
_MUTATING = ("POST", "PUT", "DELETE", "PATCH")


def relay_of(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


def space_of(request: Request) -> str:
    space: str = request.path_params.get("space_id", DEFAULT_SPACE)
    return space


async def caller(
    request: Request, privilege: Privilege | None = None, *, denied: str = "Forbidden"
) -> Principal:
    """Authenticate, check ``kbn-xsrf`` on mutating methods, then the privilege
    (``denied`` is the 403 message; see :meth:`Principal.require`).

    Without an ``Authorization`` header a web UI session cookie is accepted; mutating
    calls made with it must carry the session's CSRF token (docs/ui.md).
    """
    header = request.headers.get("authorization")
    if header is None and SESSION_COOKIE in request.cookies:
        principal = await _session_caller(request)
    else:
        auth: AccessService = request.app.state.auth
        principal = await auth.authenticate(header)
        if request.method in _MUTATING and "kbn-xsrf" not in request.headers:
            raise BadRequestError("Request must contain a kbn-xsrf header.")
    if privilege is not None:
        principal.require(privilege, space_of(request), denied=denied)
    return principal


async def _session_caller(request: Request) -> Principal:
    sessions = sessions_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await sessions.principal(cookie)
    if principal is None:
        raise UnauthenticatedError("Unauthorized: the session has expired; log in again")
    if request.method in _MUTATING and not sessions.csrf_ok(
        cookie, request.headers.get(CSRF_HEADER)
    ):
        raise ForbiddenError("Forbidden: missing or invalid CSRF token")
    return principal
