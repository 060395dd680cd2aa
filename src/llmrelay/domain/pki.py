"""Client-certificate (PKI) material, decoded to PEM bytes and ready for a TLS context."""

from __future__ import annotations

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
        return f"PkiMaterial(verification_mode={self.verification_mode!r}, ca={self.ca_pem is not None})"
