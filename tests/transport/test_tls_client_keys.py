"""Mutual TLS with every private key form, and clear failures for keys that cannot work.

The material goes the user's way: base64 secrets -> ``validate_secrets`` -> ``pki()`` ->
a real handshake with a server that requires a client certificate (``CERT_REQUIRED``).
"""

from __future__ import annotations

import hashlib
import json

import pytest
import trustme

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.pki import ENCRYPTED_PRIVATE_KEY, KEY_MISMATCH, PkiMaterial
from llmrelay.domain.secrets import validate_secrets
from llmrelay.errors import UpstreamTLSError
from llmrelay.transport.client import OutboundClient
from llmrelay.transport.tls import TlsContexts
from tests.helpers.pki import KEY_FORMS, b64, encrypted_key_pem, key_pem
from tests.transport.conftest import BlockingTlsServer

pytestmark = pytest.mark.network

LOAD_FAILED = "Invalid or inaccessible PKI certificates: "


def material(leaf: trustme.LeafCert, ca: trustme.CA, form: str, *, squash: bool) -> PkiMaterial:
    key = key_pem(leaf, form)
    if squash:  # what a form field or an env var does to the line breaks
        key = b" ".join(key.splitlines())
    secrets = validate_secrets(
        {
            "certificateData": b64(leaf.cert_chain_pems[0].bytes()),
            "privateKeyData": b64(key),
            "caData": b64(ca.cert_pem.bytes()),
        }
    )
    pki = secrets.pki()
    assert pki is not None
    return pki


@pytest.mark.parametrize("squash", [False, True], ids=["lines", "one-line"])
@pytest.mark.parametrize("form", KEY_FORMS)
async def test_mutual_tls_with_every_key_form(
    form: str,
    squash: bool,
    ca: trustme.CA,
    client_certs: dict[str, trustme.LeafCert],
    mtls_server: BlockingTlsServer,
) -> None:
    pki = material(client_certs[form], ca, form, squash=squash)
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "GET", mtls_server.url(), headers={}, body=None, timeout_ms=3000, pki=pki
        )
        seen = json.loads(await response.read())
    assert seen == {"client_cert": True}


def _build(pki: PkiMaterial) -> UpstreamTLSError:
    with pytest.raises(UpstreamTLSError) as info:
        TlsContexts(ActionsSettings()).context_for("https://example.com", pki)
    assert info.value.code == "ERR_TLS_CERT_LOAD"
    assert "MII" not in str(info.value)
    return info.value


@pytest.mark.parametrize("form", KEY_FORMS)
def test_mismatched_key_is_named_when_the_context_is_built(
    form: str, ca: trustme.CA, client_certs: dict[str, trustme.LeafCert]
) -> None:
    # material that never went through validation (stored before this check existed)
    stranger = ca.issue_cert("stranger", key_type=KEY_FORMS[form][0])
    pki = PkiMaterial(client_certs[form].cert_chain_pems[0].bytes(), key_pem(stranger, form))
    assert str(_build(pki)) == LOAD_FAILED + KEY_MISMATCH


@pytest.mark.parametrize("legacy", [False, True], ids=["pkcs8-encrypted", "proc-type-encrypted"])
def test_encrypted_key_is_refused_without_asking_for_a_passphrase(
    legacy: bool, client_cert: trustme.LeafCert
) -> None:
    pki = PkiMaterial(
        client_cert.cert_chain_pems[0].bytes(), encrypted_key_pem(client_cert, legacy=legacy)
    )
    assert str(_build(pki)) == LOAD_FAILED + ENCRYPTED_PRIVATE_KEY


def test_material_digest_is_computed_once_per_material(
    client_cert: trustme.LeafCert, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = client_cert.cert_chain_pems[0].bytes()
    first = PkiMaterial(cert, key_pem(client_cert, "ec-sec1"), ca.cert_pem.bytes())
    same = PkiMaterial(cert, key_pem(client_cert, "ec-sec1"), ca.cert_pem.bytes(), "none")
    assert same.digest == first.digest and same.ca_digest == first.ca_digest
    assert PkiMaterial(cert, key_pem(client_cert, "ec-pkcs8")).digest != first.digest
    contexts = TlsContexts(ActionsSettings())

    def no_hashing(*args: object) -> None:
        raise AssertionError("the per-request plan must not hash the material")

    monkeypatch.setattr(hashlib, "sha256", no_hashing)
    policy, _, key = contexts.plan("https://example.com", first)
    assert key == (policy, first.digest) and policy.ca_digest == first.ca_digest
