"""Secrets schema, PKI rules and PEM re-wrapping (spec §1.3-§1.5; checklist 14-19)."""

from __future__ import annotations

import base64
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import validate_config
from llmrelay.domain.pki import decode_base64_lenient, rewrap_pem
from llmrelay.domain.secrets import ConnectorSecrets, secrets_to_dict, validate_secrets
from llmrelay.errors import ConnectorValidationError

PREFIX = "error validating connector type secrets: "
NO_KEY = PREFIX + "[apiKey]: expected value of type [string] but got [undefined]"
BAD_CERT = PREFIX + (
    "Invalid Certificate data file format: The file must be a PEM-encoded certificate "
    'beginning with "-----BEGIN CERTIFICATE-----".'
)
BAD_KEY = PREFIX + (
    "Invalid Private key data file format: The file must be a PEM-encoded private key "
    'beginning with "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----".'
)
BAD_CA = PREFIX + (
    "Invalid CA certificate data file format: The file must be a PEM-encoded certificate "
    'beginning with "-----BEGIN CERTIFICATE-----".'
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def one_line(pem: bytes) -> bytes:
    """What a form field does to a PEM: every line break gone."""
    return b"".join(pem.splitlines())


@pytest.fixture(scope="module")
def pems() -> dict[str, bytes]:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    sec1_key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    pkcs8 = sec1_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    rsa_leaf = ca.issue_cert("localhost", key_type=trustme.KeyType.RSA)
    return {
        "cert": leaf.cert_chain_pems[0].bytes(),
        "key": pkcs8,
        "ec_key": leaf.private_key_pem.bytes(),
        "rsa_cert": rsa_leaf.cert_chain_pems[0].bytes(),
        "rsa_key": rsa_leaf.private_key_pem.bytes(),  # PKCS#1
        "ca": ca.cert_pem.bytes(),
        "other_ca": trustme.CA().cert_pem.bytes(),
    }


def secrets_error(raw: object) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_secrets(raw)
    assert info.value.kind == "secrets"
    return str(info.value)


@pytest.mark.parametrize("raw", [None, {}, {"apiKey": ""}, {"apiKey": "   "}, {"apiKey": None}])
def test_missing_or_empty_api_key(raw: object) -> None:
    # checklist 14, 15
    assert secrets_error(raw) == NO_KEY


def test_api_key_alone_is_fine() -> None:
    secrets = validate_secrets({"apiKey": "sk-123"})
    assert secrets.apiKey == "sk-123"
    assert secrets.pki() is None
    assert secrets_to_dict(secrets) == {"apiKey": "sk-123"}


def test_api_key_must_be_a_string() -> None:
    assert secrets_error({"apiKey": 123}) == PREFIX + "[apiKey]: Expected string, received number"


def test_unknown_secret_key_does_not_echo_values() -> None:
    message = secrets_error({"apiKey": "k", "password": "hunter2"})
    assert message == PREFIX + 'Unrecognized keys: "password"'
    assert "hunter2" not in message


def test_certificate_without_key(pems: dict[str, bytes]) -> None:
    # checklist 16
    assert secrets_error({"certificateData": b64(pems["cert"])}) == (
        PREFIX + "Private key data must be provided for PKI"
    )


@pytest.mark.parametrize("field", ["privateKeyData", "caData"])
def test_key_or_ca_without_certificate(field: str, pems: dict[str, bytes]) -> None:
    message = secrets_error({"apiKey": "k", field: b64(pems["key"])})
    assert message == PREFIX + "Certificate data must be provided for PKI"


@pytest.mark.parametrize(
    "cert", [b"not a pem", b"-----BEGIN PRIVATE KEY-----\nabc\n", "é".encode(), b""]
)
def test_certificate_that_is_not_a_pem(cert: bytes, pems: dict[str, bytes]) -> None:
    # checklist 17
    raw = {"certificateData": b64(cert) or "!!!!", "privateKeyData": b64(pems["key"])}
    assert secrets_error(raw) == BAD_CERT


def test_raw_pem_instead_of_base64_is_rejected(pems: dict[str, bytes]) -> None:
    raw = {"certificateData": pems["cert"].decode(), "privateKeyData": b64(pems["key"])}
    assert secrets_error(raw) == BAD_CERT


@pytest.mark.parametrize(("cert", "key"), [("cert", "key"), ("rsa_cert", "rsa_key")])
def test_private_key_headers_accepted(cert: str, key: str, pems: dict[str, bytes]) -> None:
    # checklist 18 (PKCS#8 and PKCS#1), checklist 19 (no CA, no apiKey)
    secrets = validate_secrets(
        {"certificateData": b64(pems[cert]), "privateKeyData": b64(pems[key])}
    )
    assert secrets.apiKey is None
    assert secrets.pki() is not None


@pytest.mark.parametrize("key", [b"hello", b"-----BEGIN CERTIFICATE-----\nx\n"])
def test_private_key_with_other_content(key: bytes, pems: dict[str, bytes]) -> None:
    # checklist 18
    raw = {"certificateData": b64(pems["cert"]), "privateKeyData": b64(key)}
    assert secrets_error(raw) == BAD_KEY


def test_sec1_ec_key_is_accepted_unlike_kibana(pems: dict[str, bytes]) -> None:
    # deviation (i); tests/domain/test_pki_keys.py has every form
    raw = {"certificateData": b64(pems["cert"]), "privateKeyData": b64(pems["ec_key"])}
    assert validate_secrets(raw).pki() is not None


def test_invalid_ca(pems: dict[str, bytes]) -> None:
    # checklist 19
    raw = {
        "certificateData": b64(pems["cert"]),
        "privateKeyData": b64(pems["key"]),
        "caData": b64(b"garbage"),
    }
    assert secrets_error(raw) == BAD_CA


def test_blank_pki_field_names_the_field(pems: dict[str, bytes]) -> None:
    raw = {"certificateData": b64(pems["cert"]), "privateKeyData": b64(pems["key"]), "caData": ""}
    assert secrets_error(raw) == PREFIX + "[caData]: must not be empty or whitespace only"


def test_pki_with_api_key_and_ca(pems: dict[str, bytes]) -> None:
    secrets = validate_secrets(
        {
            "apiKey": "k",
            "certificateData": b64(pems["cert"]),
            "privateKeyData": b64(pems["key"]),
            "caData": b64(pems["ca"]),
        }
    )
    assert secrets.apiKey == "k"
    assert secrets.caData is not None


def test_repr_and_str_hide_every_value(pems: dict[str, bytes]) -> None:
    secrets = validate_secrets(
        {
            "apiKey": "sk-very-secret",
            "certificateData": b64(pems["cert"]),
            "privateKeyData": b64(pems["key"]),
        }
    )
    for text in (repr(secrets), str(secrets), f"{secrets}", repr([secrets])):
        assert "sk-very-secret" not in text
        assert b64(pems["key"])[:20] not in text
        assert "apiKey='***'" in text
        assert "caData=None" in text
    pki = secrets.pki()
    assert pki is not None
    assert b"PRIVATE" not in repr(pki).encode()


def test_direct_model_errors_do_not_echo_input() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        ConnectorSecrets.model_validate({"apiKey": "sk-leak", "extra": "sk-leak2"})
    assert "sk-leak" not in str(info.value)


# --- base64 and PEM re-wrapping --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aGVsbG8=", b"hello"),
        ("aGVsbG8", b"hello"),  # padding optional
        ("aGVs\nbG8=\n", b"hello"),  # whitespace ignored
        ("aGV*sb€G8", b"hello"),  # junk skipped
        ("aGVsbG8=trailing", b"hello"),  # stops at padding like Node
        ("-_8", base64.b64decode("+/8=")),  # URL-safe alphabet
        ("a", b""),  # a dangling character decodes to nothing
        ("", b""),
    ],
)
def test_lenient_base64(text: str, expected: bytes) -> None:
    assert decode_base64_lenient(text) == expected


def test_rewrap_restores_line_structure(pems: dict[str, bytes]) -> None:
    squashed = b64(one_line(pems["cert"]))
    rewrapped = rewrap_pem(squashed)
    assert rewrapped == pems["cert"]
    x509.load_pem_x509_certificate(rewrapped)
    lines = rewrapped.decode().splitlines()
    assert all(len(line) <= 64 for line in lines)


def test_rewrap_keeps_every_block_of_a_ca_bundle(pems: dict[str, bytes]) -> None:
    bundle = one_line(pems["ca"]) + b"   " + pems["other_ca"]
    rewrapped = rewrap_pem(b64(bundle))
    assert rewrapped == pems["ca"] + pems["other_ca"]
    context = ssl.create_default_context(cadata=rewrapped.decode())
    assert len(context.get_ca_certs()) == 2


def test_rewrap_without_pem_block_returns_decoded_text() -> None:
    assert rewrap_pem(b64(b"plain text")) == b"plain text"


def test_pki_material_is_loadable(pems: dict[str, bytes]) -> None:
    secrets = validate_secrets(
        {
            "certificateData": b64(one_line(pems["rsa_cert"])),
            "privateKeyData": b64(one_line(pems["rsa_key"])),
            "caData": b64(pems["ca"] + pems["other_ca"]),
        }
    )
    pki = secrets.pki()
    assert pki is not None
    assert pki.certificate_pem == pems["rsa_cert"]
    assert pki.private_key_pem == pems["rsa_key"]
    assert pki.ca_pem == pems["ca"] + pems["other_ca"]
    serialization.load_pem_private_key(pki.private_key_pem, password=None)


# --- deviations (a) and (b) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        (None, "full"),
        ({"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1"}, "full"),
        ({"apiProvider": "Azure OpenAI", "apiUrl": "https://x.openai.azure.com"}, "full"),
        ({"apiProvider": "Other", "apiUrl": "https://h", "defaultModel": "m"}, "full"),
        (
            {
                "apiProvider": "Other",
                "apiUrl": "https://h",
                "defaultModel": "m",
                "verificationMode": "certificate",
            },
            "certificate",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": "https://h", "verificationMode": "none"},
            "none",
        ),
    ],
)
def test_pki_for_every_provider_defaults_to_full(
    config: dict[str, object] | None, mode: str, pems: dict[str, bytes]
) -> None:
    validated = validate_config(config, ActionsSettings()) if config else None
    secrets = validate_secrets(
        {"certificateData": b64(pems["cert"]), "privateKeyData": b64(pems["key"])}
    )
    pki = secrets.pki(validated.verificationMode if validated else None)
    assert pki is not None
    assert pki.verification_mode == mode
    assert pki.ca_pem is None
