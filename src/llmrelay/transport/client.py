"""The one outbound HTTP stack: every call of every sub-action goes through it.

Per request: URL assertion, allow-list and outbound safety (metadata names and forbidden
literal addresses; also on each redirect hop; resolved addresses are checked by the
connector's resolver, :mod:`llmrelay.transport.addresses`), normalisation,
``{}`` for empty bodies, proxy decision, TLS context (cached), one pooled aiohttp session,
timeout and response-size limits, and translation of every library exception into the
``llmrelay.errors`` tree (:func:`~llmrelay.transport.translate.translate_error`, re-exported
here, is the only place that knows aiohttp's, ssl's and the OS's exceptions). Proxy TLS
limits are documented in :mod:`llmrelay.transport.proxy`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import NamedTuple, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.pki import PkiMaterial
from llmrelay.domain.urls import assert_url, canonical_origin, hostname_of, normalise_url
from llmrelay.errors import (
    ConfigurationError,
    LlmrelayError,
    UpstreamConnectionError,
    UpstreamForbiddenHostError,
    UpstreamProtocolError,
    UrlError,
)
from llmrelay.transport.addresses import AddressGuard, GuardedResolver
from llmrelay.transport.proxy import ProxyConfig, ProxyPolicy
from llmrelay.transport.redact import is_sensitive, redact_headers, redact_url
from llmrelay.transport.response import REQUEST_ID_HEADERS, UpstreamResponse
from llmrelay.transport.tls import TlsContexts, build_context, policy_for_mode
from llmrelay.transport.translate import translate_error

__all__ = ["REQUEST_ID_HEADERS", "OutboundClient", "UpstreamResponse", "translate_error"]

logger = logging.getLogger("llmrelay.transport")

MAX_REDIRECTS = 10
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})
_NO_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
# Per-URL decisions remembered by each client: the checks depend only on the URL and the
# client's settings (addresses resolved at connect time are still checked on every
# connection). Parsing and checking a URL was ~6% of the gateway's CPU per request.
_URL_MEMORY = 1024
_V = TypeVar("_V")


class _Route(NamedTuple):
    """How one checked URL is sent: the parsed target, TLS or not, through which proxy."""

    target: str | URL
    is_https: bool
    proxy: ProxyConfig | None


def _remember(memory: dict[str, _V], url: str, value: _V) -> _V:
    if len(memory) >= _URL_MEMORY:
        memory.clear()
    memory[url] = value
    return value


def _forbidden_message(url: str) -> str:
    return (
        "error configuring connector action: error validating url: "
        f'target url "{url}" is not added to the Kibana config xpack.actions.allowedHosts'
    )


class OutboundClient:
    """Pooled, keep-alive client applying ``xpack.actions`` networking rules.

    Nothing network-related is built before the first request; the aiohttp session is
    created lazily inside the running loop. Use ``async with`` or call :meth:`close`.
    """

    def __init__(self, settings: ActionsSettings, *, pool_limit: int = 1000) -> None:
        self._settings = settings
        self._pool_limit = pool_limit
        self._tls = TlsContexts(settings)
        self._proxy = ProxyPolicy(settings)
        proxy = self._proxy.proxy
        self._guard = AddressGuard(settings, exempt_hosts=(proxy.host_port[0],) if proxy else ())
        self._resolver: GuardedResolver | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._targets: dict[str, str] = {}  # requested URL -> checked, normalised URL
        self._routes: dict[str, _Route] = {}

    async def __aenter__(self) -> OutboundClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        resolver, self._resolver = self._resolver, None
        if resolver is not None:  # a resolver handed to the connector is not closed by it
            await resolver.close()

    def _session_now(self) -> aiohttp.ClientSession:
        if self._closed:
            raise UpstreamConnectionError("the outbound client is closed", code="ERR_CLOSED")
        if self._session is None:
            self._resolver = GuardedResolver(self._guard)
            connector = aiohttp.TCPConnector(
                limit=self._pool_limit, ttl_dns_cache=60, resolver=self._resolver
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                timeout=_NO_TIMEOUTS,
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._session

    # --- the one entry point -----------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_ms: int,
        pki: PkiMaterial | None = None,
        log_context: str | None = None,
    ) -> UpstreamResponse:
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000
        method = method.upper()
        prefix = f"{log_context.strip()} " if log_context else ""
        try:
            target = self._checked_target(url)
            data = body if body else b"{}"
            send_headers = dict(headers)
            if not body and not any(k.lower() == "content-type" for k in send_headers):
                send_headers["Content-Type"] = "application/json"
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "Request to external service. %sMethod: %s. URL: %s. Headers: %s",
                    prefix,
                    method,
                    redact_url(target),
                    redact_headers(send_headers),
                )
            async with asyncio.timeout_at(deadline):
                response, final_url = await self._follow(method, target, send_headers, data, pki)
        except LlmrelayError as err:
            self._log_failure(prefix, method, url, err)
            raise
        except Exception as exc:
            upstream = translate_error(exc, timeout_ms=timeout_ms)
            self._log_failure(prefix, method, url, upstream)
            raise upstream from exc
        return UpstreamResponse(
            response,
            url=final_url,
            request_body_bytes=len(data),
            deadline=deadline,
            timeout_ms=timeout_ms,
            max_content_length=self._settings.maxResponseContentLength,
        )

    def _log_failure(self, prefix: str, method: str, url: str, err: Exception) -> None:
        logger.debug(
            "Request to external service failed. %sMethod: %s. URL: %s. Error: %s",
            prefix,
            method,
            redact_url(url),
            err,
        )

    def _checked_target(self, url: str) -> str:
        checked = self._targets.get(url)
        if checked is not None:
            return checked
        try:
            assert_url(url)
        except UrlError as err:
            raise UpstreamProtocolError(str(err), code="ERR_INVALID_URL") from err
        self._check_host(url)
        return _remember(self._targets, url, normalise_url(url))

    async def _follow(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        pki: PkiMaterial | None,
    ) -> tuple[aiohttp.ClientResponse, str]:
        session = self._session_now()
        for hop in range(MAX_REDIRECTS + 1):
            response = await self._send(session, method, url, headers, data, pki)
            location = response.headers.get("Location")
            if response.status not in _REDIRECT_STATUSES or not location:
                return response, url
            response.close()
            if hop == MAX_REDIRECTS:
                break
            next_url = urljoin(url, location)
            self._check_redirect(next_url)
            if (response.status == 303 and method != "HEAD") or (
                response.status in (301, 302) and method == "POST"
            ):
                method, data = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
            if canonical_origin(next_url) != canonical_origin(url):
                headers = {k: v for k, v in headers.items() if not is_sensitive(k)}
            url = next_url
        raise UpstreamProtocolError(
            "Maximum number of redirects exceeded", code="ERR_FR_TOO_MANY_REDIRECTS"
        )

    def _check_redirect(self, url: str) -> None:
        try:
            assert_url(url)
        except UrlError as err:
            raise UpstreamProtocolError(str(err), code="ERR_INVALID_URL") from err
        self._check_host(url)

    def _check_host(self, url: str) -> None:
        """Allow-list, then metadata names and forbidden literal addresses (no DNS here)."""
        host = hostname_of(url)
        if not self._settings.host_allowed(host):
            raise UpstreamForbiddenHostError(_forbidden_message(url), code="ERR_HOST_NOT_ALLOWED")
        self._guard.check_target(host)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        pki: PkiMaterial | None,
    ) -> aiohttp.ClientResponse:
        target, is_https, proxy = self._routes.get(url) or self._route(url)
        ssl_arg: ssl.SSLContext | bool = True
        proxy_headers: dict[str, str] | None = None
        if is_https:
            ssl_arg = await self._target_context(
                url, pki, via_https_proxy=bool(proxy and proxy.is_https)
            )
        elif proxy is not None and proxy.is_https:
            ssl_arg = self._tls.proxy_context(self._settings.ssl.proxyVerificationMode)
        if proxy is not None and proxy.headers:
            if is_https:
                proxy_headers = dict(proxy.headers)  # aiohttp mutates it: a fresh copy each time
            else:  # absolute-form request: the proxy reads its headers from the request itself
                present = {k.lower() for k in headers}
                headers = headers | {k: v for k, v in proxy.headers if k.lower() not in present}
        try:
            return await session.request(
                method,
                target,
                headers=headers,
                data=data,
                ssl=ssl_arg,
                proxy=proxy.url if proxy else None,
                proxy_headers=proxy_headers,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as exc:
            if proxy is None:
                raise
            raise translate_error(exc, timeout_ms=0, proxy=proxy.host_port) from exc

    def _route(self, url: str) -> _Route:
        host = hostname_of(url)
        proxy = self._proxy.proxy if self._proxy.uses_proxy(host) else None
        target: str | URL = url
        try:
            target = URL(url)
        except ValueError:
            pass  # aiohttp refuses it the same way, before connecting
        else:  # the host aiohttp will use, in case its parser reads the URL differently
            self._guard.check_target(target.raw_host or "")
        is_https = urlsplit(url).scheme.lower() == "https"
        return _remember(self._routes, url, _Route(target, is_https, proxy))

    async def _target_context(
        self, url: str, pki: PkiMaterial | None, *, via_https_proxy: bool
    ) -> ssl.SSLContext:
        policy, ca_pem, key = self._tls.plan(url, pki)
        if via_https_proxy:
            wanted = policy_for_mode(self._settings.ssl.proxyVerificationMode)
            effective = policy if policy.verify else policy_for_mode("none")
            if effective != wanted:
                raise ConfigurationError(
                    f"TLS settings for {canonical_origin(url)} (PKI or customHostSettings) differ "
                    "from xpack.actions.ssl.proxyVerificationMode; through an https:// proxy the "
                    "proxy is verified with the target's settings, so this request is refused "
                    "rather than verifying the proxy differently than configured"
                )
        ctx = self._tls.cached(key)
        if ctx is None:
            built = await asyncio.to_thread(build_context, policy, ca_pem, pki)
            ctx = self._tls.store(key, built)
        return ctx
