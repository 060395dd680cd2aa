"""Turn trustme material into the base64-of-PEM secrets a connector takes."""

from __future__ import annotations

import base64

import trustme
from cryptography.hazmat.primitives import serialization


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pkcs8_key_pem(leaf: trustme.LeafCert) -> bytes:
    """trustme issues EC keys in SEC1 form; Kibana's rule wants ``BEGIN PRIVATE KEY``."""
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pki_secrets(leaf: trustme.LeafCert, ca: trustme.CA | None = None) -> dict[str, str]:
    secrets = {
        "certificateData": b64(leaf.cert_chain_pems[0].bytes()),
        "privateKeyData": b64(pkcs8_key_pem(leaf)),
    }
    if ca is not None:
        secrets["caData"] = b64(ca.cert_pem.bytes())
    return secrets
