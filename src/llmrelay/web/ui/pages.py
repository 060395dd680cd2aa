"""The UI's pages: log in/out and the page shells whose scripts call the public API.

Pages render only what the session says about the caller (name, spaces, privileges);
connector and usage data are fetched by the page scripts from ``/api`` with the session,
so the UI has no private path to the data. This module must not import
``llmrelay.web.context`` (which imports the sessions module of this package).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from llmrelay.domain.routes import ROUTE
from llmrelay.service import ENDPOINTS, Principal
from llmrelay.web.ui.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    is_tls,
    sessions_of,
)

_HERE = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
STATIC_DIR = _HERE / "static"
STATIC_PATH = "/ui/static"
DEFAULT_SPACE = "default"
_MAX_FORM_BYTES = 16 * 1024
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
BAD_CREDENTIALS = "Invalid username or password."


def _space(request: Request) -> str:
    space: str = request.path_params.get("space_id", DEFAULT_SPACE)
    return space


def prefix_of(space: str) -> str:
    return "" if space == DEFAULT_SPACE else f"/s/{quote(space, safe='')}"


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "static": STATIC_PATH,
            "version": request.app.state.settings.version,
            **context,
        },
        status_code=status,
    )
    response.headers.update(_SECURITY_HEADERS)
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else goes to the connectors page."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 32 for ch in target)
    ):
        return target
    return "/app/connectors"


def _spaces_of(principal: Principal, current: str) -> list[str]:
    explicit = {g.space for g in principal.grants if g.space != "*"}
    if any(g.space == "*" for g in principal.grants):
        explicit.add(DEFAULT_SPACE)
    explicit.add(current)
    return sorted(explicit, key=lambda s: (s != DEFAULT_SPACE, s))


async def session_page(
    request: Request, template: str, page: str, extra: dict[str, Any] | None = None
) -> Response:
    """Render ``template`` for the session's user, or send the browser to log in."""
    sessions = sessions_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await sessions.principal(cookie)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    space = _space(request)
    prefix = prefix_of(space)
    return _page(
        request,
        template,
        {
            "page": page,
            "user": principal.name,
            "space": space,
            "spaces": _spaces_of(principal, space),
            "any_space": any(g.space == "*" for g in principal.grants),
            "prefix": prefix,
            "api": prefix + "/api",
            "csrf": sessions.csrf_token(cookie),
            "can_read": principal.can("connectors.read", space),
            "can_write": principal.can("connectors.write", space),
            "can_execute": principal.can("connectors.execute", space),
            "can_usage": principal.can("usage.read", space),
            "can_admin": principal.can("admin", space),
            "is_admin": principal.can("admin", "*"),
            **(extra or {}),
        },
    )


# --- log in / out ----------------------------------------------------------------------
async def login_form(request: Request) -> Response:
    principal = await sessions_of(request).principal(request.cookies.get(SESSION_COOKIE))
    target = _safe_next(request.query_params.get("next"))
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    notice = "You have logged out." if request.query_params.get("logged_out") else None
    return _login_page(request, target, notice=notice)


def _login_page(
    request: Request,
    target: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    username: str = "",
    status: int = 200,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token):
        token = secrets.token_urlsafe(24)
    response = _page(
        request,
        "login.html",
        {
            "page": "login",
            "next": target,
            "error": error,
            "notice": notice,
            "username": username,
            "csrf": token,
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (no multipart); oversized or odd bodies read as empty."""
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > _MAX_FORM_BYTES:
            return {}
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in parsed.items()}


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    target = _safe_next(form.get("next"))
    username = form.get("username", "")[:256]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, form.get("csrf", "")):
        return _login_page(
            request,
            target,
            error="Your login form expired. Please try again.",
            username=username,
            status=400,
        )
    password = form.get("password", "")[:1024]
    user = None
    if username and password:
        user = await request.app.state.relay.access.verify_password(username, password)
    if user is None:
        return _login_page(request, target, error=BAD_CREDENTIALS, username=username, status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sessions_of(request).issue(user.name),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    sessions = sessions_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    form = await read_form(request)
    if sessions.read(cookie) is not None and not sessions.csrf_ok(cookie, form.get("csrf")):
        return RedirectResponse("/app/connectors", status_code=303)
    sessions.revoke(cookie)
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_tls(request)
    )
    return response


# --- pages -----------------------------------------------------------------------------
async def home(request: Request) -> Response:
    return RedirectResponse(prefix_of(_space(request)) + "/app/connectors", status_code=303)


async def connectors_page(request: Request) -> Response:
    return await session_page(request, "connectors.html", "connectors")


async def new_connector_page(request: Request) -> Response:
    if request.query_params.get("type") == ROUTE:
        return await session_page(request, "route_new.html", "connector-route-new")
    chosen = request.query_params.get("type") == ".gen-ai"
    return await session_page(
        request, "connector_new.html", "connector-new", {"type_chosen": chosen}
    )


async def connector_page(request: Request) -> Response:
    connector_id = request.path_params["id"]
    tab = request.query_params.get("tab", "config")
    if tab not in ("test", "executions"):
        tab = "config"
    return await session_page(
        request, "connector.html", "connector", {"connector_id": connector_id, "tab": tab}
    )


async def route_page(request: Request) -> Response:
    """A route connector's page (the connector page sends routes here)."""
    tab = request.query_params.get("tab")
    return await session_page(
        request,
        "route.html",
        "connector-route",
        {
            "connector_id": request.path_params["id"],
            "tab": tab if tab in ("attempts", "test") else "config",
        },
    )


async def usage_page(request: Request) -> Response:
    return await session_page(
        request,
        "usage.html",
        "usage",
        {
            "connector_filter": request.query_params.get("connector", "")[:200],
            "endpoints": ENDPOINTS,
        },
    )


async def limits_page(request: Request) -> Response:
    return await session_page(request, "limits.html", "limits")


def _app_routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/connectors", connectors_page, methods=["GET"]),
        Route("/connectors/new", new_connector_page, methods=["GET"]),
        Route("/connectors/{id}", connector_page, methods=["GET"]),
        Route("/routes/{id}", route_page, methods=["GET"]),
        Route("/usage", usage_page, methods=["GET"]),
        Route("/limits", limits_page, methods=["GET"]),
    ]


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/app", home, methods=["GET"]),
    Mount("/app", routes=_app_routes()),
    Route("/s/{space_id}/app", home, methods=["GET"]),
    Mount("/s/{space_id}/app", routes=_app_routes()),
    Mount(STATIC_PATH, app=StaticFiles(directory=str(STATIC_DIR)), name="ui-static"),
]
