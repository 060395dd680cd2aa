"""Outbound safety (issue 7 §2): link-local and metadata targets are never called.

Nothing here leaves loopback: :class:`ConnectGuard` fails the test if aiohttp is asked to
open a socket to any other address, and :class:`FakeDns` answers the names these tests
invent (``rebind.test``) without a real lookup. Every refusal must happen before a
connection is attempted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohappyeyeballs
import aiohttp.connector
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay import ActionsSettings
from llmrelay.domain.addresses import address_refusal, host_refusal, parse_ip
from llmrelay.errors import UpstreamForbiddenHostError
from llmrelay.settings import load_settings
from llmrelay.testing import FakeUpstream
from llmrelay.transport.addresses import FORBIDDEN_ADDRESS_CODE
from llmrelay.transport.client import OutboundClient
from tests.fixtures.proxy import ForwardProxy
from tests.transport.conftest import StartServer

JSON = {"Content-Type": "application/json"}
METADATA_PREFIX = "error configuring connector action: "


# --- the two test doubles, also used by tests/execution/test_outbound_safety_exec.py --------
class ConnectGuard:
    """Replaces aiohttp's socket opener: records every address and refuses non-loopback."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        self.foreign: list[str] = []
        real = aiohappyeyeballs.start_connection

        async def guarded(addr_infos: Sequence[Any], *args: Any, **kwargs: Any) -> socket.socket:
            for info in addr_infos:
                host = str(info[4][0])
                self.attempts.append(host)
                if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                    self.foreign.append(host)
                    pytest.fail(f"the client tried to connect to {host}")
            return await real(addr_infos, *args, **kwargs)

        monkeypatch.setattr(aiohappyeyeballs, "start_connection", guarded)


class FakeDns:
    """Answers invented names from a table on the running loop; other names resolve as usual."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[Any]:
            name = host.decode() if isinstance(host, bytes) else str(host)
            self.asked.append(name)
            if name.rstrip(".") not in self.table:
                return await real(host, port, **kwargs)
            infos: list[Any] = []
            for address in self.table[name.rstrip(".")]:
                if ":" in address:
                    infos.append(
                        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))
                    )
                else:
                    infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))))
            return infos

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectGuard]:
    connect_guard = ConnectGuard(monkeypatch)
    yield connect_guard
    assert not connect_guard.foreign


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


async def _refused(
    settings: ActionsSettings, url: str, *, method: str = "POST"
) -> UpstreamForbiddenHostError:
    started = time.monotonic()
    async with OutboundClient(settings) as client:
        with pytest.raises(UpstreamForbiddenHostError) as info:
            await client.request(
                method, url, headers=JSON, body=b"{}" if method == "POST" else None, timeout_ms=5000
            )
    assert time.monotonic() - started < 2, "refused late: was a connection attempted?"
    assert info.value.code == FORBIDDEN_ADDRESS_CODE
    return info.value


async def _ok(settings: ActionsSettings, url: str) -> int:
    async with OutboundClient(settings) as client:
        response = await client.request("POST", url, headers=JSON, body=b"{}", timeout_ms=5000)
        await response.read()
        return response.status


# --- literal addresses and metadata names: refused before any lookup or connection ---------
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://169.254.169.254/", "169.254.169.254"),
        ("http://169.254.169.254./x", "169.254.169.254"),
        ("http://[fe80::1]/v1/chat/completions", "fe80::1"),
        ("http://[fe80::1%25eth0]:8080/v1", "fe80::1"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
        ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe"),
        ("http://[fd00:ec2::254]/latest/meta-data", "fd00:ec2::254"),
        ("http://100.100.100.200/latest/meta-data", "100.100.100.200"),
        ("http://2852039166/", "2852039166"),
        ("http://0xa9fea9fe/", "0xa9fea9fe"),
        ("http://169.254.43518/", "169.254.43518"),
    ],
)
async def test_link_local_and_metadata_literals_are_refused_with_allow_all(
    url: str, host: str, guard: ConnectGuard
) -> None:
    err = await _refused(ActionsSettings(allowedHosts=("*",)), url)
    assert str(err) == (
        f'{METADATA_PREFIX}target "{host}" is a link-local or cloud metadata address, '
        "which llmrelay never calls"
    )
    assert guard.attempts == []


@pytest.mark.parametrize(
    "host",
    [
        "metadata.google.internal",
        "METADATA.Google.Internal.",
        "metadata",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    ],
)
async def test_metadata_host_names_are_refused_before_resolution(
    host: str, guard: ConnectGuard, dns: FakeDns
) -> None:
    err = await _refused(ActionsSettings(), f"http://{host}/computeMetadata/v1/")
    name = host.lower().rstrip(".")
    assert str(err) == (
        f'{METADATA_PREFIX}target "{name}" is a cloud metadata host name, '
        "which llmrelay never calls"
    )
    assert dns.asked == [] and guard.attempts == []


# --- resolved addresses: checked at connect time -----------------------------------------
@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254"])
async def test_a_name_resolving_to_a_link_local_address_is_refused_at_connect_time(
    address: str, guard: ConnectGuard, dns: FakeDns
) -> None:
    dns.table["rebind.test"] = [address]
    err = await _refused(ActionsSettings(), "http://rebind.test/latest/meta-data")
    assert str(err) == (
        f'{METADATA_PREFIX}target "rebind.test" resolves to a link-local or cloud metadata '
        f"address ({address}), which llmrelay never calls"
    )
    assert "rebind.test" in dns.asked  # refused on the resolved address, not the name
    assert guard.attempts == []


async def test_forbidden_answers_are_dropped_and_the_allowed_ones_used(
    start_server: StartServer, guard: ConnectGuard, dns: FakeDns
) -> None:
    server = await start_server()
    dns.table["mixed.test"] = ["169.254.169.254", "127.0.0.1"]
    assert await _ok(ActionsSettings(), server.url(host="mixed.test")) == 200
    assert guard.attempts == ["127.0.0.1"]


async def test_dns_rebinding_is_refused_when_the_name_is_resolved_again(
    start_server: StartServer,
    guard: ConnectGuard,
    dns: FakeDns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await start_server()
    url = server.url(host="rebind.test")
    dns.table["rebind.test"] = ["127.0.0.1"]
    async with OutboundClient(ActionsSettings()) as client:
        first = await client.request("POST", url, headers=JSON, body=b"{}", timeout_ms=5000)
        await first.read()
        assert first.status == 200
        # the attacker's DNS now answers the metadata address; time passes beyond the DNS
        # cache's TTL and the pooled connection's keep-alive, so the name is looked up again
        dns.table["rebind.test"] = ["169.254.169.254"]
        real_monotonic = time.monotonic  # what aiohttp.connector imported
        monkeypatch.setattr(aiohttp.connector, "monotonic", lambda: real_monotonic() + 3600)
        with pytest.raises(UpstreamForbiddenHostError) as info:
            await client.request("POST", url, headers=JSON, body=b"{}", timeout_ms=5000)
    assert "resolves to a link-local or cloud metadata address (169.254.169.254)" in str(info.value)
    assert dns.asked.count("rebind.test") == 2
    assert guard.attempts == ["127.0.0.1"]


# --- redirects -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("http://169.254.169.254/latest/meta-data", '"169.254.169.254" is a link-local'),
        ("http://[fe80::1]:8080/", '"fe80::1" is a link-local'),
        ("http://metadata.google.internal/computeMetadata/v1/", "is a cloud metadata host name"),
        ("http://rebind.test/latest/meta-data", '"rebind.test" resolves to a link-local'),
    ],
)
async def test_a_redirect_to_a_metadata_target_is_refused_without_connecting(
    location: str, fragment: str, upstream: FakeUpstream, guard: ConnectGuard, dns: FakeDns
) -> None:
    dns.table["rebind.test"] = ["169.254.169.254"]
    upstream.redirect(location)
    err = await _refused(ActionsSettings(), upstream.url())
    assert fragment in str(err)
    assert len(upstream.requests) == 1
    assert all(ipaddress.ip_address(a).is_loopback for a in guard.attempts)


# --- denyPrivateNetworks -----------------------------------------------------------------
async def test_loopback_is_allowed_by_default(upstream: FakeUpstream) -> None:
    assert await _ok(ActionsSettings(), upstream.url()) == 200
    assert await _ok(ActionsSettings(), upstream.url().replace("localhost", "127.0.0.1")) == 200


async def test_deny_private_networks_refuses_the_loopback_upstream(
    upstream: FakeUpstream, guard: ConnectGuard
) -> None:
    settings = ActionsSettings(denyPrivateNetworks=True)
    literal = await _refused(settings, upstream.url().replace("localhost", "127.0.0.1"))
    assert str(literal) == (
        f'{METADATA_PREFIX}target "127.0.0.1" is a private or loopback address, '
        "refused by xpack.actions.denyPrivateNetworks"
    )
    named = await _refused(settings, upstream.url())
    assert re.fullmatch(
        re.escape(f'{METADATA_PREFIX}target "localhost" resolves to a private or loopback ')
        + r"address \((127\.0\.0\.1|::1)\), refused by xpack\.actions\.denyPrivateNetworks",
        str(named),
    )
    assert guard.attempts == [] and upstream.requests == []


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "0.1.2.3", "fd12::1"]
)
async def test_deny_private_networks_refuses_private_ranges(
    address: str, guard: ConnectGuard, dns: FakeDns
) -> None:
    dns.table["internal.test"] = [address]
    err = await _refused(ActionsSettings(denyPrivateNetworks=True), "http://internal.test/v1")
    assert f"resolves to a private or loopback address ({address})" in str(err)


async def test_deny_private_networks_from_the_settings_loader(tmp_path: Path) -> None:
    from_env = load_settings(
        environ={"LLMRELAY__xpack__actions__denyPrivateNetworks": "true"},
        overrides={"home": tmp_path},
    )
    config = tmp_path / "llmrelay.yml"
    config.write_text("xpack.actions:\n  denyPrivateNetworks: true\n")
    from_file = load_settings(config, environ={}, overrides={"home": tmp_path})
    default = load_settings(environ={}, overrides={"home": tmp_path})
    assert from_env.actions.denyPrivateNetworks is True
    assert from_file.actions.denyPrivateNetworks is True
    assert default.actions.denyPrivateNetworks is False


# --- with a proxy: the proxy is the operator's choice, the target still is checked ---------
async def test_through_a_proxy_targets_are_checked_and_the_proxy_itself_is_exempt(
    forward_proxy: ForwardProxy, upstream: FakeUpstream, guard: ConnectGuard
) -> None:
    settings = ActionsSettings(
        proxyUrl=f"http://localhost:{forward_proxy.port}", denyPrivateNetworks=True
    )
    before = len(forward_proxy.requests())
    await _refused(settings, "http://169.254.169.254/latest/meta-data")
    await _refused(settings, "http://metadata.google.internal/computeMetadata/v1/")
    assert len(forward_proxy.requests()) == before
    # the proxy's name resolves to loopback, which denyPrivateNetworks would refuse for a
    # target; the target's name is resolved by the proxy, so only name checks apply to it
    assert await _ok(settings, upstream.url()) == 200
    assert forward_proxy.saw("POST", f"localhost:{upstream.port}")


# --- the classifier against ipaddress ----------------------------------------------------
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_METADATA = {ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "168.63.129.16")}


def _reaches(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _expected(address: ipaddress.IPv4Address | ipaddress.IPv6Address, deny: bool) -> str | None:
    target = _reaches(address)
    if target.is_link_local or target in _METADATA:
        return "metadata"
    private = target.is_private or target.is_loopback
    if isinstance(target, ipaddress.IPv4Address):
        private = private or target in _CGNAT or target in _THIS_NETWORK
    return "private" if deny and private else None


_ADDRESSES = st.one_of(
    st.ip_addresses(),
    *(
        st.ip_addresses(network=net)
        for net in (
            "169.254.0.0/16",
            "fe80::/10",
            "::ffff:0:0/96",
            "64:ff9b::/96",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "fc00::/7",
        )
    ),
)


@given(_ADDRESSES, st.booleans())
def test_classifier_agrees_with_ipaddress(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, deny: bool
) -> None:
    expected = _expected(address, deny)
    assert address_refusal(address, deny_private=deny) == expected
    literal = f"[{address}]" if address.version == 6 else str(address)
    assert host_refusal(literal, deny_private=deny) == expected
    if _reaches(address).is_link_local:
        assert expected == "metadata"  # always, in both modes
    if _reaches(address).is_loopback:
        assert (expected == "private") is deny  # loopback: allowed unless denied


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_legacy_ipv4_forms_are_judged_as_the_address_they_name(number: int) -> None:
    address = ipaddress.IPv4Address(number)
    for form in (str(number), hex(number), f"{number >> 24}.{number & 0xFFFFFF}"):
        assert parse_ip(form) == address, form
        assert host_refusal(form, deny_private=True) == _expected(address, True)
