"""Proxy routing (checklist 83) through a real tinyproxy, and proxy TLS limits."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import pytest
import trustme

from llmrelay.domain.actions_settings import ActionsSettings, SslSettings, VerificationMode
from llmrelay.domain.pki import PkiMaterial
from llmrelay.errors import ConfigurationError, UpstreamProxyError
from llmrelay.transport.client import OutboundClient
from llmrelay.transport.proxy import ProxyPolicy
from tests.fixtures.proxy import ForwardProxy
from tests.transport.conftest import RecordingProxy, Server, StartServer, server_context

pytestmark = pytest.mark.network

StartProxy = Callable[..., Awaitable[RecordingProxy]]


async def _call(client: OutboundClient, url: str) -> dict[str, object]:
    response = await client.request("POST", url, headers={}, body=b"{}", timeout_ms=5000)
    data = json.loads(await response.read())
    assert isinstance(data, dict)
    return data


@pytest.fixture
async def https_server(ca: trustme.CA, start_server: StartServer) -> Server:
    return await start_server(server_context(ca.issue_cert("localhost", "127.0.0.1")))


# --- routing through tinyproxy ------------------------------------------------------------
async def test_http_target_goes_through_the_proxy(
    forward_proxy: ForwardProxy, start_server: StartServer
) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings(proxyUrl=forward_proxy.url)) as client:
        seen = await _call(client, server.url(host="127.0.0.1"))
    assert seen["method"] == "POST"
    assert forward_proxy.saw("POST", f"http://127.0.0.1:{server.port}/echo")


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_https_target_is_tunnelled_with_connect(
    forward_proxy: ForwardProxy, https_server: Server
) -> None:
    async with OutboundClient(ActionsSettings(proxyUrl=forward_proxy.url)) as client:
        seen = await _call(client, https_server.url())
    assert seen["method"] == "POST"
    assert forward_proxy.saw("CONNECT", f"localhost:{https_server.port}")


async def test_bypass_hosts_go_direct(
    forward_proxy: ForwardProxy, start_server: StartServer
) -> None:
    server = await start_server()
    settings = ActionsSettings(proxyUrl=forward_proxy.url, proxyBypassHosts=("LOCALHOST",))
    async with OutboundClient(settings) as client:
        await _call(client, server.url(host="localhost"))
        await _call(client, server.url(host="127.0.0.1"))
    assert forward_proxy.saw("POST", f"http://127.0.0.1:{server.port}/")
    assert not forward_proxy.saw_any(f"localhost:{server.port}")


async def test_only_hosts_use_the_proxy(
    forward_proxy: ForwardProxy, start_server: StartServer
) -> None:
    server = await start_server()
    settings = ActionsSettings(proxyUrl=forward_proxy.url, proxyOnlyHosts=("localhost",))
    async with OutboundClient(settings) as client:
        await _call(client, server.url(host="localhost"))
        await _call(client, server.url(host="127.0.0.1"))
    assert forward_proxy.saw("POST", f"http://localhost:{server.port}/")
    assert not forward_proxy.saw_any(f"127.0.0.1:{server.port}")


async def test_with_both_lists_only_bypass_is_honoured(
    forward_proxy: ForwardProxy, start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    settings = ActionsSettings(
        proxyUrl=forward_proxy.url,
        proxyBypassHosts=("localhost",),
        proxyOnlyHosts=("other.example",),
    )
    async with OutboundClient(settings) as client:
        await _call(client, server.url(host="localhost"))
        await _call(client, server.url(host="127.0.0.1"))
    assert forward_proxy.saw("POST", f"http://127.0.0.1:{server.port}/")
    assert not forward_proxy.saw_any(f"localhost:{server.port}")
    assert "proxyOnlyHosts is ignored" in caplog.text


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_environment_proxy_variables_never_apply(
    forward_proxy: ForwardProxy,
    start_server: StartServer,
    https_server: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await start_server()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, forward_proxy.url)
    async with OutboundClient(ActionsSettings()) as client:
        await _call(client, server.url(host="127.0.0.1"))
        await _call(client, https_server.url())
    assert not forward_proxy.saw_any(f":{server.port}")
    assert not forward_proxy.saw_any(f":{https_server.port}")


async def test_invalid_proxy_url_goes_direct_with_a_warning(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings(proxyUrl="socks5://nowhere")) as client:
        assert (await _call(client, server.url()))["method"] == "POST"
    assert "proxyUrl is not a valid http(s) URL" in caplog.text


async def test_dead_proxy_is_a_proxy_error(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings(proxyUrl="http://127.0.0.1:1")) as client:
        with pytest.raises(UpstreamProxyError) as info:
            await _call(client, server.url())
    assert info.value.code == "ECONNREFUSED"
    assert str(info.value) == "connect ECONNREFUSED 127.0.0.1:1 (proxy)"


# --- proxy headers and https proxies (our recording proxy) --------------------------------
@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_proxy_headers_are_sent_with_connect_and_absolute_form(
    recording_proxy: StartProxy, start_server: StartServer, https_server: Server
) -> None:
    proxy = await recording_proxy()
    plain = await start_server()
    settings = ActionsSettings(proxyUrl=proxy.url(), proxyHeaders={"X-Proxy-Token": "t0k"})
    async with OutboundClient(settings) as client:
        await _call(client, https_server.url())
        seen = await _call(client, plain.url(host="127.0.0.1"))
    connect = [h for line, h in proxy.heads if line.startswith("CONNECT ")]
    absolute = [h for line, h in proxy.heads if line.startswith("POST http://")]
    assert connect and connect[0]["x-proxy-token"] == "t0k"
    assert absolute and absolute[0]["x-proxy-token"] == "t0k"
    assert seen["method"] == "POST"


@pytest.mark.usefixtures("trust_ca_system_wide")
@pytest.mark.parametrize("mode", ["full", "none"])
async def test_https_proxy_for_http_target_uses_proxy_verification_mode(
    recording_proxy: StartProxy,
    start_server: StartServer,
    other_ca: trustme.CA,
    mode: VerificationMode,
) -> None:
    proxy = await recording_proxy(server_context(other_ca.issue_cert("localhost")))
    server = await start_server()
    settings = ActionsSettings(
        proxyUrl=proxy.url(),
        ssl=SslSettings(verificationMode=mode, proxyVerificationMode=mode),
    )
    async with OutboundClient(settings) as client:
        if mode == "full":  # the proxy's issuer is not trusted: refused, as a proxy error
            with pytest.raises(UpstreamProxyError) as info:
                await _call(client, server.url(host="127.0.0.1"))
            assert info.value.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        else:
            assert (await _call(client, server.url(host="127.0.0.1")))["method"] == "POST"


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_https_proxy_tunnels_https_targets_tls_in_tls(
    recording_proxy: StartProxy, ca: trustme.CA, https_server: Server
) -> None:
    proxy = await recording_proxy(server_context(ca.issue_cert("localhost")))
    async with OutboundClient(ActionsSettings(proxyUrl=proxy.url())) as client:
        assert (await _call(client, https_server.url()))["method"] == "POST"
    assert proxy.heads[0][0].startswith(f"CONNECT localhost:{https_server.port}")


def test_https_proxy_with_a_mode_aiohttp_cannot_honour_is_refused() -> None:
    settings = ActionsSettings(
        proxyUrl="https://proxy.example:3128",
        ssl=SslSettings(verificationMode="full", proxyVerificationMode="none"),
    )
    with pytest.raises(ConfigurationError, match="proxyVerificationMode 'none' cannot"):
        OutboundClient(settings)
    # an http:// proxy has no TLS of its own: any mode is fine
    ProxyPolicy(settings.model_copy(update={"proxyUrl": "http://proxy.example:3128"}))


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_pki_mode_that_would_weaken_https_proxy_checks_is_refused(
    recording_proxy: StartProxy, ca: trustme.CA, https_server: Server
) -> None:
    proxy = await recording_proxy(server_context(ca.issue_cert("localhost")))
    client_cert = ca.issue_cert("client@example")
    pki = PkiMaterial(
        certificate_pem=client_cert.cert_chain_pems[0].bytes(),
        private_key_pem=client_cert.private_key_pem.bytes(),
        verification_mode="none",
    )
    async with OutboundClient(ActionsSettings(proxyUrl=proxy.url())) as client:
        with pytest.raises(ConfigurationError, match="proxyVerificationMode"):
            await client.request(
                "POST", https_server.url(), headers={}, body=None, timeout_ms=2000, pki=pki
            )
    assert proxy.heads == []


# --- the decision itself ------------------------------------------------------------------
def test_policy_decisions_are_exact_hostname_matches(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    no_proxy = ProxyPolicy(ActionsSettings(proxyBypassHosts=("a.example",)))
    assert not no_proxy.uses_proxy("b.example")
    bypass = ProxyPolicy(ActionsSettings(proxyUrl="http://p:1", proxyBypassHosts=("a.example",)))
    assert not bypass.uses_proxy("A.example.")
    assert bypass.uses_proxy("sub.a.example")
    only = ProxyPolicy(ActionsSettings(proxyUrl="http://p:1", proxyOnlyHosts=("a.example",)))
    assert only.uses_proxy("a.example") and not only.uses_proxy("b.example")
