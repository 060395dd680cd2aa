"""The space picker's target: ``GET /app/space?space=<id>`` goes to that space when it
exists, and otherwise says so; admins of all spaces may create it on purpose
(``POST /app/space``, with the session's CSRF token)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from llmrelay.domain.naming import space_id_problem
from llmrelay.service import Relay
from llmrelay.web.ui.pages import prefix_of, read_form, session_page
from llmrelay.web.ui.sessions import SESSION_COOKIE, sessions_of


def _section(target: str | None) -> str:
    return "usage" if target == "usage" else "connectors"


def _relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


async def switch_space(request: Request) -> Response:
    space = request.query_params.get("space", "").strip().lower()[:100]
    section = _section(request.query_params.get("to"))
    if not space_id_problem(space) and await _relay(request).spaces.exists(space):
        return RedirectResponse(f"{prefix_of(space)}/app/{section}", status_code=303)
    return await _missing(request, space, section)


async def _missing(request: Request, space: str, section: str) -> Response:
    """The page that says so; admins see every space and may create this one."""
    problem = space_id_problem(space)
    principal = await sessions_of(request).principal(request.cookies.get(SESSION_COOKIE))
    admin = principal is not None and principal.can("admin", "*")
    return await session_page(
        request,
        "space_missing.html",
        "space-missing",
        {
            "wanted": space,
            "section": section,
            "malformed": bool(problem),
            "known_spaces": await _relay(request).spaces.list() if admin else None,
        },
    )


async def create_space(request: Request) -> Response:
    sessions = sessions_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    form = await read_form(request)
    principal = await sessions.principal(cookie)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    space = form.get("space", "").strip().lower()[:100]
    section = _section(form.get("to"))
    if (
        not sessions.csrf_ok(cookie, form.get("csrf"))
        or not principal.can("admin", "*")
        or space_id_problem(space)
    ):
        return await _missing(request, space, section)
    await _relay(request).spaces.create(space)
    return RedirectResponse(f"{prefix_of(space)}/app/{section}?space_created=1", status_code=303)


routes: list[BaseRoute] = [
    Route("/app/space", switch_space, methods=["GET"]),
    Route("/app/space", create_space, methods=["POST"]),
]
