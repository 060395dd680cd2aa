"""TLS verification modes, customHostSettings, PKI (mTLS) and context handling."""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from pathlib import Path

import pytest
import trustme

from llmrelay.domain.actions_settings import (
    ActionsSettings,
    CustomHostSetting,
    CustomHostSsl,
    SslSettings,
    VerificationMode,
)
from llmrelay.domain.pki import PkiMaterial
from llmrelay.errors import ConfigurationError, UpstreamTLSError
from llmrelay.transport.client import OutboundClient
from llmrelay.transport.tls import TlsContexts, load_custom_hosts
from tests.transport.conftest import (
    BlockingTlsServer,
    Server,
    StartServer,
    self_signed_context,
    server_context,
)

pytestmark = pytest.mark.network


def _settings(mode: VerificationMode = "full", **kwargs: object) -> ActionsSettings:
    return ActionsSettings(ssl=SslSettings(verificationMode=mode), **kwargs)


async def _get(
    client: OutboundClient, url: str, pki: PkiMaterial | None = None
) -> dict[str, object]:
    response = await client.request("GET", url, headers={}, body=None, timeout_ms=3000, pki=pki)
    data = json.loads(await response.read())
    assert isinstance(data, dict)
    return data


async def _fails(
    client: OutboundClient, url: str, pki: PkiMaterial | None = None
) -> UpstreamTLSError:
    with pytest.raises(UpstreamTLSError) as info:
        await client.request("GET", url, headers={}, body=None, timeout_ms=3000, pki=pki)
    return info.value


@pytest.fixture
async def wrong_host_server(ca: trustme.CA, start_server: StartServer) -> Server:
    """Trusted chain, but the certificate names another host."""
    return await start_server(server_context(ca.issue_cert("wrong.example")))


@pytest.fixture
async def untrusted_server(other_ca: trustme.CA, start_server: StartServer) -> Server:
    return await start_server(server_context(other_ca.issue_cert("localhost", "127.0.0.1")))


@pytest.fixture
async def good_server(ca: trustme.CA, start_server: StartServer) -> Server:
    return await start_server(server_context(ca.issue_cert("localhost", "127.0.0.1")))


# --- verification modes (checklist 84) ----------------------------------------------------
@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_full_verifies_chain_and_hostname(
    good_server: Server, wrong_host_server: Server, untrusted_server: Server
) -> None:
    async with OutboundClient(_settings("full")) as client:
        assert (await _get(client, good_server.url()))["method"] == "GET"
        mismatch = await _fails(client, wrong_host_server.url())
        assert mismatch.code == "ERR_TLS_CERT_ALTNAME_INVALID"
        assert str(mismatch).startswith("Hostname/IP does not match certificate's altnames")
        unknown = await _fails(client, untrusted_server.url())
        assert unknown.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        assert str(unknown) == "unable to verify the first certificate"


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_full_reports_ip_mismatch(wrong_host_server: Server) -> None:
    async with OutboundClient(_settings("full")) as client:
        error = await _fails(client, wrong_host_server.url(host="127.0.0.1"))
    assert error.code == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert "IP: 127.0.0.1" in str(error)


@pytest.mark.usefixtures("trust_ca_system_wide")
async def test_certificate_verifies_chain_only(
    wrong_host_server: Server, untrusted_server: Server
) -> None:
    async with OutboundClient(_settings("certificate")) as client:
        assert (await _get(client, wrong_host_server.url()))["method"] == "GET"
        assert (await _fails(client, untrusted_server.url())).code == (
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        )


async def test_none_accepts_anything(
    start_server: StartServer, wrong_host_server: Server, untrusted_server: Server
) -> None:
    self_signed = await start_server(self_signed_context())
    async with OutboundClient(_settings("none")) as client:
        for server in (wrong_host_server, untrusted_server, self_signed):
            assert (await _get(client, server.url()))["method"] == "GET"


async def test_self_signed_is_reported_as_such(start_server: StartServer) -> None:
    server = await start_server(self_signed_context())
    async with OutboundClient(_settings("full")) as client:
        error = await _fails(client, server.url())
    assert error.code == "DEPTH_ZERO_SELF_SIGNED_CERT"
    assert str(error) == "self-signed certificate"


# --- customHostSettings (checklist 85) ----------------------------------------------------
async def test_custom_host_ca_data_applies_to_that_host_only(
    ca: trustme.CA, good_server: Server, start_server: StartServer
) -> None:
    other = await start_server(server_context(ca.issue_cert("localhost")))
    settings = _settings(
        "full",
        customHostSettings=(
            CustomHostSetting(
                url=f"https://localhost:{good_server.port}",
                ssl=CustomHostSsl(certificateAuthoritiesData=ca.cert_pem.bytes().decode()),
            ),
        ),
    )
    async with OutboundClient(settings) as client:
        assert (await _get(client, good_server.url()))["method"] == "GET"
        error = await _fails(client, other.url())  # same CA, no entry: system trust only
    assert error.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"


async def test_custom_host_ca_file_and_mode_override(
    ca: trustme.CA,
    tmp_path: Path,
    good_server: Server,
    untrusted_server: Server,
    wrong_host_server: Server,
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings = _settings(
        "full",
        customHostSettings=(
            CustomHostSetting(
                url=f"https://localhost:{good_server.port}/",
                ssl=CustomHostSsl(certificateAuthoritiesFiles=[str(ca_file)]),
            ),
            CustomHostSetting(
                url=f"https://LOCALHOST:{untrusted_server.port}",
                ssl=CustomHostSsl(verificationMode="none"),
            ),
            CustomHostSetting(url=f"https://localhost:{untrusted_server.port}"),  # duplicate
            CustomHostSetting(url=f"http://localhost:{wrong_host_server.port}"),  # ignored
        ),
    )
    client = OutboundClient(settings)
    ca_file.unlink()  # read once, at construction
    async with client:
        assert (await _get(client, good_server.url()))["method"] == "GET"
        assert (await _get(client, untrusted_server.url()))["method"] == "GET"
        assert (await _fails(client, wrong_host_server.url())).code == (
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        )


@pytest.mark.parametrize(
    ("base", "host", "accepted"), [("certificate", "full", False), ("full", "certificate", True)]
)
async def test_custom_host_mode_decides_for_its_host_deviation_h(
    ca: trustme.CA,
    wrong_host_server: Server,
    base: VerificationMode,
    host: VerificationMode,
    accepted: bool,
) -> None:
    """Deviation (h): a per-host mode decides fully (Kibana kept the base hostname check)."""
    settings = _settings(
        base,
        customHostSettings=(
            CustomHostSetting(
                url=f"https://localhost:{wrong_host_server.port}",
                ssl=CustomHostSsl(
                    verificationMode=host,
                    certificateAuthoritiesData=ca.cert_pem.bytes().decode(),
                ),
            ),
        ),
    )
    async with OutboundClient(settings) as client:
        if accepted:
            assert (await _get(client, wrong_host_server.url()))["method"] == "GET"
        else:
            with pytest.raises(UpstreamTLSError) as caught:
                await _get(client, wrong_host_server.url())
            assert caught.value.code == "ERR_TLS_CERT_ALTNAME_INVALID"


def test_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    settings = _settings(
        customHostSettings=(
            CustomHostSetting(
                url="https://example.com",
                ssl=CustomHostSsl(certificateAuthoritiesFiles=str(missing)),
            ),
        ),
    )
    with pytest.raises(ConfigurationError, match=str(missing)):
        OutboundClient(settings)


def test_custom_host_entries_warn_and_keep_first(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(
        customHostSettings=(
            CustomHostSetting(url="https://a.example", ssl=CustomHostSsl(verificationMode="none")),
            CustomHostSetting(url="https://a.example:443", ssl=None),
            CustomHostSetting(url="http://b.example"),
            CustomHostSetting(url="not a url"),
        ),
    )
    hosts = load_custom_hosts(settings)
    assert list(hosts) == ["https://a.example:443"]
    assert hosts["https://a.example:443"].verification_mode == "none"
    assert "duplicate" in caplog.text and "http://b.example:80" in caplog.text


# --- PKI / mTLS (checklist 86) ------------------------------------------------------------
@pytest.fixture
def pki(ca: trustme.CA) -> PkiMaterial:
    client_cert = ca.issue_cert("client@example")
    return PkiMaterial(
        certificate_pem=b"".join(blob.bytes() for blob in client_cert.cert_chain_pems),
        private_key_pem=client_cert.private_key_pem.bytes(),
        ca_pem=ca.cert_pem.bytes(),
        verification_mode="full",
    )


async def test_pki_client_certificate_is_presented(
    mtls_server: BlockingTlsServer, pki: PkiMaterial
) -> None:
    async with OutboundClient(_settings("full")) as client:
        seen = await _get(client, mtls_server.url(), pki=pki)
    assert seen["client_cert"] is True


async def test_mtls_without_client_certificate_fails_with_handshake_code(
    ca: trustme.CA, mtls_server: BlockingTlsServer
) -> None:
    settings = _settings(
        customHostSettings=(
            CustomHostSetting(
                url=f"https://localhost:{mtls_server.port}",
                ssl=CustomHostSsl(certificateAuthoritiesData=ca.cert_pem.bytes().decode()),
            ),
        ),
    )
    async with OutboundClient(settings) as client:
        error = await _fails(client, mtls_server.url())
    assert error.code == "ERR_TLS_HANDSHAKE"
    assert "certificate required" in str(error)


async def test_pki_key_is_loaded_from_memory_only(
    mtls_server: BlockingTlsServer, pki: PkiMaterial, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: list[str] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, *args: object, **kwargs: object) -> None:
        paths.append(str(certfile))
        original(self, certfile, *args, **kwargs)  # type: ignore[arg-type]

    def no_temp_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("key material must not go through a temporary file")

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_temp_files)
    async with OutboundClient(_settings("full")) as client:
        assert (await _get(client, mtls_server.url(), pki=pki))["client_cert"] is True
    assert paths and all(p.startswith("/proc/self/fd/") for p in paths)
    open_memfds = [
        fd for fd in os.listdir("/proc/self/fd") if _link(fd).startswith("/memfd:llmrelay-pki")
    ]
    assert open_memfds == []  # the memory file is closed again


def _link(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_invalid_pki_material_is_reported_without_the_key(pki: PkiMaterial) -> None:
    broken = PkiMaterial(
        certificate_pem=pki.certificate_pem,
        private_key_pem=b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
    )
    with pytest.raises(UpstreamTLSError) as info:
        TlsContexts(_settings()).context_for("https://example.com", broken)
    assert str(info.value).startswith("Invalid or inaccessible PKI certificates")
    assert "bm9wZQ" not in str(info.value)


def test_contexts_are_cached_by_material_and_mode(pki: PkiMaterial) -> None:
    contexts = TlsContexts(_settings("full"))
    first = contexts.context_for("https://a.example", pki)
    assert contexts.context_for("https://b.example:8443", pki) is first
    twin = PkiMaterial(pki.certificate_pem, pki.private_key_pem, pki.ca_pem, "full")
    assert contexts.context_for("https://a.example", twin) is first
    relaxed = PkiMaterial(pki.certificate_pem, pki.private_key_pem, pki.ca_pem, "certificate")
    other = contexts.context_for("https://a.example", relaxed)
    assert other is not first and other.check_hostname is False
    assert other.verify_mode == ssl.CERT_REQUIRED
    plain = contexts.context_for("https://a.example")
    assert plain is not first and plain.check_hostname is True
