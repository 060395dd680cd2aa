"""Which outbound targets llmrelay refuses, whatever ``allowedHosts`` says (issue 7 §2).

Pure rules, no DNS: the save-time validator checks literal addresses and metadata host
names with them, and the transport applies them to every address a name resolves to at
connect time (``llmrelay.transport.addresses``). Cloud metadata services hand out
credentials to anything that can reach them, so link-local and metadata addresses are
always refused; private and loopback ranges only with ``xpack.actions.denyPrivateNetworks``
(local LLMs live there).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from typing import Literal

__all__ = [
    "METADATA_HOSTNAMES",
    "Refusal",
    "address_refusal",
    "host_refusal",
    "normalise_host",
    "parse_ip",
    "refusal_message",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Why a target is refused: a metadata host name, a link-local or metadata address (always),
# a private or loopback address (only with denyPrivateNetworks).
Refusal = Literal["metadata-name", "metadata", "private"]

METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Metadata endpoints outside 169.254.0.0/16 / fe80::/10.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("168.63.129.16"),  # Azure WireServer (VM agent, extension config)
    }
)
_ALWAYS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT, not ``is_private`` for Python
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fc00::/7",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Hosts inet_aton reads as IPv4 (2852039166, 0xa9fea9fe, 169.254.43518, 0251.0376.0.1):
# a proxy or resolver may turn them into an address, so they are judged as that address.
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")

_REASONS: dict[Refusal, str] = {
    "metadata-name": "a cloud metadata host name, which llmrelay never calls",
    "metadata": "a link-local or cloud metadata address, which llmrelay never calls",
    "private": "a private or loopback address, refused by xpack.actions.denyPrivateNetworks",
}


def normalise_host(host: str) -> str:
    """Lower case, no brackets, no trailing dot, no IPv6 zone (``%eth0``)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    if ":" in host:
        host = host.split("%", 1)[0]
    return host


def parse_ip(host: str) -> IPAddress | None:
    """The address a host names literally (including legacy IPv4 forms), else None."""
    host = normalise_host(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) reach IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_refusal(address: IPAddress, *, deny_private: bool) -> Refusal | None:
    """Why connecting to ``address`` is refused, or None when it is allowed."""
    return _address_refusal(address, deny_private)


@lru_cache(maxsize=4096)
def _address_refusal(address: IPAddress, deny_private: bool) -> Refusal | None:
    target = _embedded_ipv4(address)
    if target in _METADATA_ADDRESSES or any(
        target.version == net.version and target in net for net in _ALWAYS
    ):
        return "metadata"
    if deny_private and (
        target.is_private
        or target.is_loopback
        or any(target.version == net.version and target in net for net in _PRIVATE)
    ):
        return "private"
    return None


@lru_cache(maxsize=4096)
def host_refusal(host: str, *, deny_private: bool) -> Refusal | None:
    """Checks that need no DNS: metadata host names and literal addresses."""
    name = normalise_host(host)
    if name in METADATA_HOSTNAMES:
        return "metadata-name"
    address = parse_ip(name)
    return None if address is None else _address_refusal(address, deny_private)


def refusal_message(host: str, refusal: Refusal, *, resolved: str | None = None) -> str:
    """``target "<host>" is a ...`` or ``target "<host>" resolves to a ... (<address>)``."""
    reason = _REASONS[refusal]
    if resolved is None:
        return f'target "{host}" is {reason}'
    article, _, rest = reason.partition(", ")
    return f'target "{host}" resolves to {article} ({resolved}), {rest}'
