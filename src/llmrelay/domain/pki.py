"""Client-certificate (PKI) material, decoded to PEM bytes and ready for a TLS context."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from llmrelay.domain.actions_settings import VerificationMode


@dataclass(frozen=True, slots=True, repr=False)
class PkiMaterial:
    """PEM bytes of a client certificate, its private key and an optional CA.

    ``repr`` never shows the key: these objects end up in tracebacks and debug logs.
    """

    certificate_pem: bytes
    private_key_pem: bytes
    ca_pem: bytes | None = None
    verification_mode: VerificationMode = "full"

    def __repr__(self) -> str:
        return (
            f"PkiMaterial(verification_mode={self.verification_mode!r}, "
            f"ca={self.ca_pem is not None})"
        )


CERTIFICATE_HEADER = "-----BEGIN CERTIFICATE-----"
PRIVATE_KEY_HEADERS = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----")

_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/\-_]")
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_WHITESPACE = re.compile(r"\s+")


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
    """Decode a base64 PEM secret and re-emit every block with 64-character lines.

    Pasted PEM often loses its line breaks (form fields, env vars); OpenSSL refuses such
    text, so each ``BEGIN``/``END`` block is rebuilt. Several blocks (a CA bundle) are all
    kept; text without any block is returned as decoded.
    """
    text = decode_pem_text(data)
    blocks = list(_PEM_BLOCK.finditer(_WHITESPACE.sub(" ", text).strip()))
    if not blocks:
        return text.encode("utf-8")
    out: list[str] = []
    for block in blocks:
        label, body = block.group("label"), _WHITESPACE.sub("", block.group("body"))
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        out.append("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]))
    return ("\n".join(out) + "\n").encode("utf-8")
