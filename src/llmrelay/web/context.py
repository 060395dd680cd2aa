"""Per-request helpers shared by the route modules: caller, space, xsrf, the relay."""

from __future__ import annotations

from starlette.requests import Request

from llmrelay.service import Relay
from llmrelay.web.auth import Authenticator, Principal, Privilege
from llmrelay.web.errors import BadRequestError

DEFAULT_SPACE = "default"


def relay_of(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


def space_of(request: Request) -> str:
    space: str = request.path_params.get("space_id", DEFAULT_SPACE)
    return space


async def caller(request: Request, privilege: Privilege | None = None) -> Principal:
    """Authenticate, check ``kbn-xsrf`` on mutating methods, then the privilege."""
    auth: Authenticator = request.app.state.auth
    principal = await auth.authenticate(request.headers.get("authorization"))
    if request.method in ("POST", "PUT", "DELETE", "PATCH") and "kbn-xsrf" not in request.headers:
        raise BadRequestError("Request must contain a kbn-xsrf header.")
    if privilege is not None:
        principal.require(privilege, space_of(request))
    return principal
