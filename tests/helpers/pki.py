"""Turn trustme material into the base64-of-PEM secrets a connector takes.

``KEY_FORMS`` names every private key form llmrelay accepts; ``key_pem`` writes a trustme
leaf's key in one of them, ``encrypted_key_pem`` in the two passphrase-protected forms.
"""

from __future__ import annotations

import base64

import trustme
from cryptography.hazmat.primitives import serialization

# form -> (trustme key type, PEM format): SEC1 and PKCS#1 are OpenSSL's "traditional" forms
KEY_FORMS: dict[str, tuple[trustme.KeyType, serialization.PrivateFormat]] = {
    "ec-sec1": (trustme.KeyType.ECDSA, serialization.PrivateFormat.TraditionalOpenSSL),
    "ec-pkcs8": (trustme.KeyType.ECDSA, serialization.PrivateFormat.PKCS8),
    "rsa-pkcs1": (trustme.KeyType.RSA, serialization.PrivateFormat.TraditionalOpenSSL),
    "rsa-pkcs8": (trustme.KeyType.RSA, serialization.PrivateFormat.PKCS8),
}
KEY_HEADERS = {
    "ec-sec1": b"-----BEGIN EC PRIVATE KEY-----",
    "ec-pkcs8": b"-----BEGIN PRIVATE KEY-----",
    "rsa-pkcs1": b"-----BEGIN RSA PRIVATE KEY-----",
    "rsa-pkcs8": b"-----BEGIN PRIVATE KEY-----",
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_pem(leaf: trustme.LeafCert, form: str = "ec-pkcs8") -> bytes:
    """The leaf's private key in ``form`` (a ``KEY_FORMS`` name); checks the header."""
    _, private_format = KEY_FORMS[form]
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    pem = key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    )
    assert pem.startswith(KEY_HEADERS[form]), "the leaf's key type does not fit the form"
    return pem


def encrypted_key_pem(leaf: trustme.LeafCert, *, legacy: bool) -> bytes:
    """Passphrase-protected: PKCS#8 ``ENCRYPTED PRIVATE KEY``, or ``Proc-Type: 4,ENCRYPTED``."""
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    private_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if legacy
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        private_format,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


def pkcs8_key_pem(leaf: trustme.LeafCert) -> bytes:
    """trustme issues EC keys in SEC1 form; this is the same key as ``BEGIN PRIVATE KEY``."""
    return key_pem(leaf, "ec-pkcs8")


def pki_secrets(
    leaf: trustme.LeafCert, ca: trustme.CA | None = None, *, form: str = "ec-pkcs8"
) -> dict[str, str]:
    secrets = {
        "certificateData": b64(leaf.cert_chain_pems[0].bytes()),
        "privateKeyData": b64(key_pem(leaf, form)),
    }
    if ca is not None:
        secrets["caData"] = b64(ca.cert_pem.bytes())
    return secrets
