"""Outbound safety at connect time: refused addresses never get a connection (issue 7 §2).

Two checks, both built on :mod:`llmrelay.domain.addresses`:

* :meth:`AddressGuard.check_target` - before a request or a redirect hop is sent: metadata
  host names and literal addresses (aiohttp never asks the resolver about an IP literal).
  It also runs for proxied requests, whose target the proxy resolves, not us.
* :class:`GuardedResolver` - the TCP connector's resolver: every address a name resolves
  to is checked, so a name that points (or re-points, DNS rebinding) at a metadata or
  forbidden address is refused when the connection is made, not when the URL was read.
  aiohttp caches only what this resolver returned, so cached answers were checked too.

The configured proxy's own host name is exempt: the operator chose that address.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.addresses import (
    Refusal,
    address_refusal,
    host_refusal,
    normalise_host,
    parse_ip,
    refusal_message,
)
from llmrelay.errors import UpstreamForbiddenHostError

__all__ = ["FORBIDDEN_ADDRESS_CODE", "AddressGuard", "GuardedResolver"]

FORBIDDEN_ADDRESS_CODE = "ERR_LLMRELAY_FORBIDDEN_ADDRESS"
_PREFIX = "error configuring connector action: "


def forbidden_error(
    host: str, refusal: Refusal, *, resolved: str | None = None
) -> UpstreamForbiddenHostError:
    return UpstreamForbiddenHostError(
        _PREFIX + refusal_message(host, refusal, resolved=resolved), code=FORBIDDEN_ADDRESS_CODE
    )


class AddressGuard:
    """The policy of one outbound client: always-forbidden ranges, plus private ones if asked."""

    def __init__(self, settings: ActionsSettings, *, exempt_hosts: tuple[str, ...] = ()) -> None:
        self.deny_private = settings.denyPrivateNetworks
        self.exempt = frozenset(normalise_host(h) for h in exempt_hosts)

    def check_target(self, host: str) -> None:
        """Refuse a metadata host name or a forbidden literal address (no DNS)."""
        refusal = host_refusal(host, deny_private=self.deny_private)
        if refusal is not None:
            raise forbidden_error(normalise_host(host), refusal)

    def check_resolved(self, address: str) -> Refusal | None:
        """Why a resolved address is refused, or None (classification is cached)."""
        ip = parse_ip(address)
        if ip is None:  # resolvers return numeric addresses; anything else is not trusted
            return "metadata"
        return address_refusal(ip, deny_private=self.deny_private)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver, then drops every forbidden address."""

    def __init__(self, guard: AddressGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = normalise_host(host)
        exempt = name in self._guard.exempt
        if not exempt:
            self._guard.check_target(name)
        results = await self._inner.resolve(host, port, family)
        if exempt:
            return results
        kept: list[ResolveResult] = []
        refused: tuple[str, Refusal] | None = None
        for result in results:
            refusal = self._guard.check_resolved(result["host"])
            if refusal is None:
                kept.append(result)
            elif refused is None:
                refused = (result["host"], refusal)
        if not kept and refused is not None:
            address, refusal = refused
            raise forbidden_error(name, refusal, resolved=address)
        return kept

    async def close(self) -> None:
        await self._inner.close()
