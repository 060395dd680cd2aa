"""Client-certificate (PKI) material, decoded to PEM bytes and ready for a TLS context.

Also the save-time check of that material: the key is read the way the TLS stack will read
it (with ``cryptography``, not by its header text), so every unencrypted key OpenSSL loads
is accepted (PKCS#8, PKCS#1 RSA, SEC1 EC) and a key that belongs to another certificate is
refused when the connector is saved instead of at the first handshake.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from llmrelay.domain.actions_settings import VerificationMode

KEY_MISMATCH = "Private key data does not match the certificate data"
ENCRYPTED_PRIVATE_KEY = (
    "Private key data is encrypted with a passphrase: encrypted private keys are not "
    "supported (there is no passphrase setting). Export the key without a passphrase, "
    'e.g. with "openssl pkey -in encrypted-key.pem -out key.pem".'
)
UNREADABLE_PRIVATE_KEY = (
    "Invalid Private key data: the PEM private key cannot be read (it is damaged or in an "
    'unsupported format). Supported are unencrypted PKCS#8 ("-----BEGIN PRIVATE KEY-----"), '
    'PKCS#1 RSA ("-----BEGIN RSA PRIVATE KEY-----") and SEC1 EC '
    '("-----BEGIN EC PRIVATE KEY-----") keys.'
)
UNREADABLE_CERTIFICATE = (
    "Invalid Certificate data: the PEM certificate cannot be read (it is damaged or incomplete)."
)


@dataclass(frozen=True, slots=True, repr=False)
class PkiMaterial:
    """PEM bytes of a client certificate, its private key and an optional CA.

    ``repr`` never shows the key: these objects end up in tracebacks and debug logs.
    ``digest`` (certificate and key) and ``ca_digest`` are the TLS context cache key's
    parts, computed once here because the material is looked up on every outbound call.
    """

    certificate_pem: bytes
    private_key_pem: bytes
    ca_pem: bytes | None = None
    verification_mode: VerificationMode = "full"
    digest: str = field(init=False, compare=False)
    ca_digest: str | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", pem_digest(self.certificate_pem, self.private_key_pem))
        ca_digest = pem_digest(self.ca_pem) if self.ca_pem is not None else None
        object.__setattr__(self, "ca_digest", ca_digest)

    def __repr__(self) -> str:
        return (
            f"PkiMaterial(verification_mode={self.verification_mode!r}, "
            f"ca={self.ca_pem is not None})"
        )


def pem_digest(*parts: bytes) -> str:
    """A cache key for PEM material that does not hold the material (length-prefixed)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


CERTIFICATE_HEADER = "-----BEGIN CERTIFICATE-----"

_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/\-_]")
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_WHITESPACE = re.compile(r"\s+")
# any PEM private key header: PKCS#8, PKCS#1, SEC1, DSA, encrypted PKCS#8, OpenSSH...
_PRIVATE_KEY_HEADER = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# the RFC 1421 header of a legacy (OpenSSL "traditional") passphrase-protected key
_LEGACY_ENCRYPTED = re.compile(r"Proc-Type:\s*4\s*,\s*ENCRYPTED")


def decode_base64_lenient(data: str) -> bytes:
    """Decode base64 the way Node's ``Buffer.from(s, "base64")`` does: never fail.

    Characters outside the (standard or URL-safe) alphabet are skipped, padding is
    optional and a dangling final character is dropped, so odd input yields odd bytes
    (which the PEM check then rejects) instead of an exception.
    """
    head = data.split("=", 1)[0]  # Node stops at the first padding character
    cleaned = _BASE64_ALPHABET.sub("", head).replace("-", "+").replace("_", "/")
    cleaned = cleaned[: len(cleaned) - (len(cleaned) % 4 == 1)]
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned)


def decode_pem_text(data: str) -> str:
    """Base64 secret -> text; invalid UTF-8 becomes U+FFFD like Node's ``toString()``."""
    return decode_base64_lenient(data).decode("utf-8", errors="replace")


def rewrap_pem(data: str) -> bytes:
    """Decode a base64 PEM secret and re-emit every block with 64-character lines."""
    return rewrap_pem_text(decode_pem_text(data))


def rewrap_pem_text(text: str) -> bytes:
    """Re-emit every ``BEGIN``/``END`` block of decoded PEM text with 64-character lines.

    Pasted PEM often loses its line breaks (form fields, env vars); OpenSSL refuses such
    text, so each block is rebuilt. Several blocks (a CA bundle) are all kept; text
    without any block is returned as is.
    """
    blocks = list(_PEM_BLOCK.finditer(_WHITESPACE.sub(" ", text).strip()))
    if not blocks:
        return text.encode("utf-8")
    out: list[str] = []
    for block in blocks:
        label, body = block.group("label"), _WHITESPACE.sub("", block.group("body"))
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        out.append("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]))
    return ("\n".join(out) + "\n").encode("utf-8")


def has_private_key_header(text: str) -> bool:
    """True when decoded text holds some PEM private key header (any key format)."""
    return _PRIVATE_KEY_HEADER.search(text) is not None


def key_pair_problem(certificate_pem: bytes, key_text: str, key_pem: bytes) -> str | None:
    """Why the certificate and key cannot be used together for mutual TLS, or None.

    ``key_text`` is the decoded secret (legacy encryption headers live there; re-wrapping
    folds them into the body), ``key_pem`` the re-wrapped bytes the TLS stack will load.
    The leaf is the first certificate, as OpenSSL's ``load_cert_chain`` takes it.
    """
    if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_text or _LEGACY_ENCRYPTED.search(key_text):
        return ENCRYPTED_PRIVATE_KEY
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        cert_public = _public_der(certificate.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return UNREADABLE_CERTIFICATE
    try:
        # The RSA consistency check (primality of p and q) costs up to 100 ms and OpenSSL,
        # which signs with this key, does not run it either; the match needs the public half.
        key = serialization.load_pem_private_key(
            key_pem, password=None, unsafe_skip_rsa_key_validation=True
        )
        key_public = _public_der(key.public_key())
    except TypeError:  # "Password was not given but private key is encrypted"
        return ENCRYPTED_PRIVATE_KEY
    except (ValueError, UnsupportedAlgorithm):
        return UNREADABLE_PRIVATE_KEY
    return None if key_public == cert_public else KEY_MISMATCH


def _public_der(public_key: PublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER: one comparable form for every key type."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
