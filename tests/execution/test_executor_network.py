"""Every sub-action goes through the one networking stack (checklist 53, 83-86).

Kibana's issue 214057 was a path (the SDK one) that ignored the proxy; here each
sub-action is sent through a real forward proxy and against real TLS/mTLS servers.
"""

from __future__ import annotations

import json

import pytest
import trustme

from llmrelay import ActionsSettings, CustomHostSetting, Executor
from llmrelay.domain.actions_settings import CustomHostSsl, SslSettings
from llmrelay.testing import FakeUpstream
from tests.execution.conftest import ConnectorFactory
from tests.fixtures.proxy import ForwardProxy
from tests.helpers.pki import KEY_FORMS, pki_secrets

HELLO = [{"role": "user", "content": "Hello world"}]
BODY = json.dumps({"messages": HELLO})

SUB_ACTIONS: list[tuple[str, dict[str, object]]] = [
    ("run", {"body": BODY}),
    ("test", {"body": BODY}),
    ("stream", {"body": BODY, "stream": True}),
    ("invokeAI", {"messages": HELLO}),
    ("invokeStream", {"messages": HELLO}),
    ("invokeAsyncIterator", {"messages": HELLO}),
]


async def _drain(result: object) -> None:
    data = getattr(result, "data", None)
    if data is not None and hasattr(data, "__aiter__"):
        async for _ in data:
            pass


@pytest.mark.parametrize(("sub_action", "params"), SUB_ACTIONS)
async def test_83_every_sub_action_goes_through_the_proxy(
    sub_action: str,
    params: dict[str, object],
    tls_upstream: FakeUpstream,
    forward_proxy: ForwardProxy,
    ca: trustme.CA,
    make_connector: ConnectorFactory,
) -> None:
    settings = ActionsSettings(
        proxyUrl=forward_proxy.url,
        customHostSettings=(
            CustomHostSetting(
                url=f"https://localhost:{tls_upstream.port}",
                ssl=CustomHostSsl(certificateAuthoritiesData=ca.cert_pem.bytes().decode()),
            ),
        ),
    )
    conn = make_connector("OpenAI", tls_upstream.url())
    async with Executor(settings) as ex:
        result = await ex.execute(conn, sub_action, params)
        assert result.ok, result
        await _drain(result)
    assert forward_proxy.saw("CONNECT", f"localhost:{tls_upstream.port}")
    assert len(tls_upstream.requests) == 1


async def test_83_bypass_list_goes_direct(
    upstream: FakeUpstream, forward_proxy: ForwardProxy, make_connector: ConnectorFactory
) -> None:
    settings = ActionsSettings(proxyUrl=forward_proxy.url, proxyBypassHosts=("localhost",))
    conn = make_connector("OpenAI", upstream.url())
    before = len(forward_proxy.requests())
    async with Executor(settings) as ex:
        assert (await ex.execute(conn, "run", {"body": BODY})).ok
    assert len(forward_proxy.requests()) == before


async def test_84_verification_modes_against_a_wrong_hostname(
    ca: trustme.CA, make_connector: ConnectorFactory
) -> None:
    # a server whose certificate names another host, reached as "localhost"
    with FakeUpstream(tls=ca, hostnames=("other.example", "localhost")) as server:
        url = f"https://localhost:{server.port}/v1/chat/completions"
        trust = (
            CustomHostSetting(
                url=f"https://localhost:{server.port}",
                ssl=CustomHostSsl(certificateAuthoritiesData=ca.cert_pem.bytes().decode()),
            ),
        )
        conn = make_connector("OpenAI", url)
        async with Executor(ActionsSettings(customHostSettings=trust)) as ex:
            assert (await ex.execute(conn, "run", {"body": BODY})).ok  # cert also names localhost
    with FakeUpstream(tls=ca, hostnames=("other.example",)) as server:
        url = f"https://localhost:{server.port}/v1/chat/completions"
        conn = make_connector("OpenAI", url)
        outcomes = {}
        for mode in ("full", "certificate", "none"):
            host_ssl = CustomHostSsl(
                certificateAuthoritiesData=ca.cert_pem.bytes().decode(), verificationMode=mode
            )
            hosts = (CustomHostSetting(url=f"https://localhost:{server.port}", ssl=host_ssl),)
            async with Executor(ActionsSettings(customHostSettings=hosts)) as ex:
                result = await ex.execute(conn, "run", {"body": BODY})
            outcomes[mode] = (result.ok, result.service_message)
    assert outcomes["full"][0] is False
    assert "ERR_TLS_CERT_ALTNAME_INVALID" in (outcomes["full"][1] or "")
    assert outcomes["certificate"][0] is True
    assert outcomes["none"][0] is True


async def test_84_untrusted_issuer_fails_unless_none(
    other_ca: trustme.CA, make_connector: ConnectorFactory
) -> None:
    with FakeUpstream(tls=other_ca) as server:
        conn = make_connector("OpenAI", server.url())
        async with Executor() as ex:
            strict = await ex.execute(conn, "run", {"body": BODY})
        relaxed_settings = ActionsSettings(ssl=SslSettings(verificationMode="none"))
        async with Executor(relaxed_settings) as ex:
            relaxed = await ex.execute(conn, "run", {"body": BODY})
    assert not strict.ok
    assert "Unexpected API Error:" in (strict.service_message or "")
    assert relaxed.ok


@pytest.mark.parametrize("form", KEY_FORMS)
async def test_86_pki_presents_client_certificate_to_mtls_server(
    form: str,
    mtls_upstream: FakeUpstream,
    client_certs: dict[str, trustme.LeafCert],
    ca: trustme.CA,
    make_connector: ConnectorFactory,
) -> None:
    # every key form (SEC1 EC and PKCS#1 RSA too: deviation (i)) against CERT_REQUIRED
    with_cert = make_connector(
        "Other",
        mtls_upstream.url(),
        defaultModel="local",
        verificationMode="full",
        secrets=pki_secrets(client_certs[form], ca, form=form),
    )
    without_cert = make_connector(
        "Other",
        mtls_upstream.url(),
        defaultModel="local",
        secrets={"apiKey": "k"},
    )
    async with Executor() as ex:
        ok = await ex.execute(with_cert, "invokeAI", {"messages": HELLO})
        refused = await ex.execute(without_cert, "invokeAI", {"messages": HELLO})
    assert ok.ok, ok
    assert "authorization" not in mtls_upstream.last_request.headers  # PKI without apiKey
    assert not refused.ok


async def test_86_deviation_a_b_pki_for_openai_provider_without_mode(
    mtls_upstream: FakeUpstream,
    client_cert: trustme.LeafCert,
    ca: trustme.CA,
    make_connector: ConnectorFactory,
) -> None:
    conn = make_connector("OpenAI", mtls_upstream.url(), secrets=pki_secrets(client_cert, ca))
    async with Executor() as ex:
        result = await ex.execute(conn, "run", {"body": BODY})
    assert result.ok, result


async def test_53_pki_tls_failures_are_rewritten(
    other_ca: trustme.CA,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    make_connector: ConnectorFactory,
) -> None:
    with FakeUpstream(tls=other_ca) as server:
        conn = make_connector(
            "Other",
            server.url(),
            defaultModel="m",
            verificationMode="full",
            secrets=pki_secrets(client_cert, ca),
        )
        async with Executor() as ex:
            result = await ex.execute(conn, "run", {"body": BODY})
    assert (result.service_message or "").startswith("Certificate error: ")
    assert result.service_message.endswith(  # type: ignore[union-attr]
        "Please check if your PKI certificates are valid or adjust SSL verification mode."
    )
    with FakeUpstream(tls=ca, hostnames=("other.example",)) as server:
        url = f"https://localhost:{server.port}/v1/chat/completions"
        conn = make_connector(
            "Other",
            url,
            defaultModel="m",
            verificationMode="full",
            secrets=pki_secrets(client_cert, ca),
        )
        async with Executor() as ex:
            result = await ex.execute(conn, "run", {"body": BODY})
    assert (result.service_message or "").startswith("TLS handshake failed: ")
