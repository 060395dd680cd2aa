"""Forward-proxy decision (spec §6.2 step 3) and the limits of proxy TLS.

Only ``xpack.actions.proxy*`` settings apply; proxy variables of the environment never do
(the client session runs with ``trust_env=False``).

Proxy TLS (``ssl.proxyVerificationMode``) and what aiohttp can honour:

* ``http://`` proxy: there is no proxy TLS; the setting is irrelevant.
* ``https://`` proxy, **HTTP target**: the proxy hop gets its own context built from
  ``ssl.proxyVerificationMode`` (system trust store) - honoured exactly.
* ``https://`` proxy, **HTTPS target** (CONNECT tunnel, TLS in TLS): aiohttp verifies the
  proxy with the *same* ``SSLContext`` as the target; it has no separate proxy context.
  We therefore honour the proxy mode only where both coincide, and refuse the rest:

  - at construction, ``ssl.proxyVerificationMode`` must equal ``ssl.verificationMode``,
    else :class:`~llmrelay.errors.ConfigurationError`;
  - per request, if PKI or a ``customHostSettings`` entry makes the target's verification
    (mode or trusted CAs) differ from what the proxy needs, the request fails with
    :class:`~llmrelay.errors.ConfigurationError` instead of verifying the proxy more
    loosely (or differently) than configured. There is no silent downgrade.
  - Kibana also presents PKI client certificates to the proxy; here the proxy sees them for
    HTTPS targets (shared context) but not for HTTP targets (proxy-only context).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.errors import ConfigurationError

logger = logging.getLogger("llmrelay.transport")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    url: str
    is_https: bool
    headers: tuple[tuple[str, str], ...]
    host_port: tuple[str, int]


def _parse_proxy_url(value: str) -> ProxyConfig | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if scheme == "https" else 80)
    return ProxyConfig(value, scheme == "https", (), (parts.hostname, port))


def _hosts(values: tuple[str, ...] | None) -> frozenset[str] | None:
    if values is None:
        return None
    return frozenset(v.lower().rstrip(".") for v in values)


class ProxyPolicy:
    """Decides, per target hostname, whether a request goes through the proxy (cached)."""

    def __init__(self, settings: ActionsSettings) -> None:
        self.proxy: ProxyConfig | None = None
        raw = settings.proxyUrl
        if raw:
            parsed = _parse_proxy_url(raw)
            if parsed is None:
                logger.warning(
                    "xpack.actions.proxyUrl is not a valid http(s) URL; "
                    "connector requests go direct (no proxy)"
                )
            else:
                headers = tuple((settings.proxyHeaders or {}).items())
                self.proxy = ProxyConfig(parsed.url, parsed.is_https, headers, parsed.host_port)
        self._bypass = _hosts(settings.proxyBypassHosts)
        self._only = _hosts(settings.proxyOnlyHosts)
        if self._bypass is not None and self._only is not None:
            logger.warning(
                "xpack.actions.proxyBypassHosts and proxyOnlyHosts are both set; "
                "proxyOnlyHosts is ignored"
            )
            self._only = None
        if self.proxy is not None and self.proxy.is_https:
            mode, proxy_mode = settings.ssl.verificationMode, settings.ssl.proxyVerificationMode
            if mode != proxy_mode:
                raise ConfigurationError(
                    f"xpack.actions.ssl.proxyVerificationMode {proxy_mode!r} cannot be honoured "
                    f"with an https:// proxyUrl: for HTTPS targets the HTTP client verifies the "
                    f"proxy with the target's TLS settings (ssl.verificationMode {mode!r}). "
                    "Set both to the same value or use an http:// proxy."
                )
        self._decisions: dict[str, bool] = {}

    def uses_proxy(self, hostname: str) -> bool:
        host = hostname.lower().rstrip(".")
        decision = self._decisions.get(host)
        if decision is None:
            decision = self._decide(host)
            if len(self._decisions) < 10_000:
                self._decisions[host] = decision
        return decision

    def _decide(self, host: str) -> bool:
        if self.proxy is None:
            return False
        if self._bypass is not None and host in self._bypass:
            return False
        return not (self._only is not None and host not in self._only)
