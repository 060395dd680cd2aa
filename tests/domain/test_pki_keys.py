"""Private keys read like the TLS stack reads them (deviation (i)): every unencrypted form,
matched against the certificate at save; Kibana's messages for anything that is not PEM."""

from __future__ import annotations

import pytest
import trustme

from llmrelay.domain.pki import (
    ENCRYPTED_PRIVATE_KEY,
    UNREADABLE_CERTIFICATE,
    UNREADABLE_PRIVATE_KEY,
)
from llmrelay.domain.secrets import validate_secrets
from llmrelay.errors import ConnectorValidationError
from tests.helpers.pki import KEY_FORMS, b64, encrypted_key_pem, key_pem

PREFIX = "error validating connector type secrets: "
MISMATCH = PREFIX + "Private key data does not match the certificate data"
BAD_KEY = PREFIX + (
    "Invalid Private key data file format: The file must be a PEM-encoded private key "
    'beginning with "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----".'
)
# what `openssl ecparam -genkey -name prime256v1` writes before the SEC1 key
EC_PARAMETERS = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaves(authority: trustme.CA) -> dict[trustme.KeyType, trustme.LeafCert]:
    return {kind: authority.issue_cert("client", key_type=kind) for kind in trustme.KeyType}


def leaf_for(form: str, leaves: dict[trustme.KeyType, trustme.LeafCert]) -> trustme.LeafCert:
    return leaves[KEY_FORMS[form][0]]


def cert_pem(leaf: trustme.LeafCert) -> bytes:
    return leaf.cert_chain_pems[0].bytes()


def secrets_error(certificate: bytes, key: bytes) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_secrets({"certificateData": b64(certificate), "privateKeyData": b64(key)})
    assert info.value.kind == "secrets"
    message = str(info.value)
    assert "MII" not in message  # no key or certificate material in the message
    return message


@pytest.mark.parametrize("form", KEY_FORMS)
def test_every_key_form_is_accepted(
    form: str, leaves: dict[trustme.KeyType, trustme.LeafCert]
) -> None:
    leaf = leaf_for(form, leaves)
    secrets = validate_secrets(
        {"certificateData": b64(cert_pem(leaf)), "privateKeyData": b64(key_pem(leaf, form))}
    )
    pki = secrets.pki()
    assert pki is not None
    assert pki.private_key_pem == key_pem(leaf, form)


@pytest.mark.parametrize("form", KEY_FORMS)
def test_key_of_another_certificate_is_refused(
    form: str, authority: trustme.CA, leaves: dict[trustme.KeyType, trustme.LeafCert]
) -> None:
    leaf = leaf_for(form, leaves)
    stranger = authority.issue_cert("client", key_type=KEY_FORMS[form][0])
    assert secrets_error(cert_pem(leaf), key_pem(stranger, form)) == MISMATCH


def test_key_of_the_other_type_is_refused(leaves: dict[trustme.KeyType, trustme.LeafCert]) -> None:
    ec, rsa = leaves[trustme.KeyType.ECDSA], leaves[trustme.KeyType.RSA]
    assert secrets_error(cert_pem(ec), key_pem(rsa, "rsa-pkcs1")) == MISMATCH
    assert secrets_error(cert_pem(rsa), key_pem(ec, "ec-sec1")) == MISMATCH


@pytest.mark.parametrize("legacy", [False, True], ids=["pkcs8-encrypted", "proc-type-encrypted"])
@pytest.mark.parametrize("squash", [False, True], ids=["lines", "one-line"])
def test_encrypted_key_gets_a_clear_message(
    legacy: bool, squash: bool, leaves: dict[trustme.KeyType, trustme.LeafCert]
) -> None:
    leaf = leaves[trustme.KeyType.ECDSA]
    key = encrypted_key_pem(leaf, legacy=legacy)
    assert (b"Proc-Type: 4,ENCRYPTED" in key) is legacy
    if squash:  # a form field eats the line breaks; the legacy headers fold into the body
        key = b" ".join(key.splitlines())
    message = secrets_error(cert_pem(leaf), key)
    assert message == PREFIX + ENCRYPTED_PRIVATE_KEY
    assert "not supported" in message and "without a passphrase" in message


def test_leaf_is_the_first_certificate_of_a_chain(authority: trustme.CA) -> None:
    leaf = authority.create_child_ca().issue_cert("client")
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    assert len(leaf.cert_chain_pems) == 2
    key = key_pem(leaf, "ec-sec1")
    good = {"certificateData": b64(chain), "privateKeyData": b64(key)}
    assert validate_secrets(good).pki() is not None
    reversed_chain = b"".join(blob.bytes() for blob in reversed(leaf.cert_chain_pems))
    assert secrets_error(reversed_chain, key) == MISMATCH  # OpenSSL would use the CA's cert


def test_openssl_ecparam_output_with_parameters_block(
    leaves: dict[trustme.KeyType, trustme.LeafCert],
) -> None:
    leaf = leaves[trustme.KeyType.ECDSA]
    raw = {
        "certificateData": b64(cert_pem(leaf)),
        "privateKeyData": b64(EC_PARAMETERS + key_pem(leaf, "ec-sec1")),
    }
    assert validate_secrets(raw).pki() is not None


@pytest.mark.parametrize(
    "key",
    [
        b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\n",  # header only: Kibana's check passes it
    ],
    ids=["pkcs8-garbage", "sec1-truncated", "openssh", "header-only"],
)
def test_unreadable_pem_key_names_the_supported_forms(
    key: bytes, leaves: dict[trustme.KeyType, trustme.LeafCert]
) -> None:
    message = secrets_error(cert_pem(leaves[trustme.KeyType.ECDSA]), key)
    assert message == PREFIX + UNREADABLE_PRIVATE_KEY
    for header in (b"BEGIN PRIVATE KEY", b"BEGIN RSA PRIVATE KEY", b"BEGIN EC PRIVATE KEY"):
        assert header.decode() in message


@pytest.mark.parametrize(
    "key", [b"hello", b"-----BEGIN CERTIFICATE-----\nx\n", b"-----BEGIN PUBLIC KEY-----\n"]
)
def test_non_pem_key_keeps_kibanas_message(
    key: bytes, leaves: dict[trustme.KeyType, trustme.LeafCert]
) -> None:
    assert secrets_error(cert_pem(leaves[trustme.KeyType.ECDSA]), key) == BAD_KEY


def test_damaged_certificate_with_header(leaves: dict[trustme.KeyType, trustme.LeafCert]) -> None:
    leaf = leaves[trustme.KeyType.ECDSA]
    damaged = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    assert secrets_error(damaged, key_pem(leaf, "ec-sec1")) == PREFIX + UNREADABLE_CERTIFICATE


def test_kibana_header_rules_come_first(leaves: dict[trustme.KeyType, trustme.LeafCert]) -> None:
    # a bad CA is reported before the key is compared (Kibana's order, then ours)
    ec, rsa = leaves[trustme.KeyType.ECDSA], leaves[trustme.KeyType.RSA]
    with pytest.raises(ConnectorValidationError) as info:
        validate_secrets(
            {
                "certificateData": b64(cert_pem(ec)),
                "privateKeyData": b64(key_pem(rsa, "rsa-pkcs8")),
                "caData": b64(b"garbage"),
            }
        )
    assert "Invalid CA certificate data file format" in str(info.value)
