"""Connector secrets: API key and base64 PEM material, validated with Kibana's messages.

Secrets are encrypted at rest and never returned, so this module is careful that neither
``repr`` nor any error message ever contains a secret value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from llmrelay.domain.actions_settings import VerificationMode
from llmrelay.domain.pki import (
    CERTIFICATE_HEADER,
    PkiMaterial,
    decode_pem_text,
    has_private_key_header,
    key_pair_problem,
    rewrap_pem,
    rewrap_pem_text,
)
from llmrelay.domain.validation import (
    StrictModel,
    blank_string_issues,
    issue,
    issues_from,
    join_issues,
    json_type,
)
from llmrelay.errors import ConnectorValidationError

MISSING_API_KEY = "[apiKey]: expected value of type [string] but got [undefined]"
MISSING_CERTIFICATE = "Certificate data must be provided for PKI"
MISSING_PRIVATE_KEY = "Private key data must be provided for PKI"
NO_PKI_MATERIAL = "PKI configuration requires certificate and private key"
INVALID_CERTIFICATE = (
    "Invalid Certificate data file format: The file must be a PEM-encoded certificate "
    'beginning with "-----BEGIN CERTIFICATE-----".'
)
INVALID_PRIVATE_KEY = (
    "Invalid Private key data file format: The file must be a PEM-encoded private key "
    'beginning with "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----".'
)
INVALID_CA = (
    "Invalid CA certificate data file format: The file must be a PEM-encoded certificate "
    'beginning with "-----BEGIN CERTIFICATE-----".'
)

_PKI_FIELDS = ("certificateData", "privateKeyData", "caData")


class ConnectorSecrets(StrictModel):
    """``apiKey`` and/or base64-encoded PEM blobs; every representation masks the values."""

    apiKey: str | None = None
    certificateData: str | None = None
    privateKeyData: str | None = None
    caData: str | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # feeds __repr__, __str__ and rich/devtools pretty printers alike
        for name in ("apiKey", *_PKI_FIELDS):
            yield name, None if getattr(self, name) is None else "***"

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__repr_args__())
        return f"ConnectorSecrets({shown})"

    def __str__(self) -> str:
        return self.__repr__()

    def pki(self, verification_mode: VerificationMode | None = None) -> PkiMaterial | None:
        """PEM bytes re-wrapped for OpenSSL plus the effective verification mode (the
        config's ``verificationMode``); None when there is no certificate and key.

        Deviations (docs/deviations.md a, b): any provider may use PKI, and a missing
        ``verificationMode`` means ``full`` instead of silently dropping the certificate.
        """
        if not (self.certificateData and self.privateKeyData):
            return None
        return PkiMaterial(
            certificate_pem=rewrap_pem(self.certificateData),
            private_key_pem=rewrap_pem(self.privateKeyData),
            ca_pem=rewrap_pem(self.caData) if self.caData else None,
            verification_mode=verification_mode or "full",
        )


def pki_problem(certificate: str | None, private_key: str | None, ca: str | None) -> str | None:
    """Kibana's PKI rules in their order, then the key check; the first problem, else None.

    Kibana's header rules come first with their exact messages, except that any PEM
    private key header passes (SEC1 ``EC PRIVATE KEY`` included). Then the key is read
    the way the TLS stack reads it and compared with the certificate (docs/deviations.md,
    (i)): an encrypted, unreadable or mismatched key fails here, at save.
    """
    if not (certificate or private_key or ca):
        return NO_PKI_MATERIAL
    if not certificate:
        return MISSING_CERTIFICATE
    if not private_key:
        return MISSING_PRIVATE_KEY
    cert_text = decode_pem_text(certificate)
    if CERTIFICATE_HEADER not in cert_text:
        return INVALID_CERTIFICATE
    key_text = decode_pem_text(private_key)
    if not has_private_key_header(key_text):
        return INVALID_PRIVATE_KEY
    if ca and CERTIFICATE_HEADER not in decode_pem_text(ca):
        return INVALID_CA
    return key_pair_problem(rewrap_pem_text(cert_text), key_text, rewrap_pem_text(key_text))


def validate_secrets(raw: object) -> ConnectorSecrets:
    """Schema, then the custom validator (spec §1.3, §1.4); only ConnectorValidationError.

    PKI is checked whenever any of the three PEM fields is present (Kibana looks only at
    ``certificateData`` at save time and fails later, at execution, for a lone key or CA).
    The rules do not depend on the config: PKI is allowed for every provider (deviation a).
    """
    if isinstance(raw, ConnectorSecrets):
        raw = raw.model_dump(exclude_none=True)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConnectorValidationError(
            "secrets", issue("", f"Expected object, received {json_type(raw)}")
        )
    values = dict(raw)
    pki_present = any(values.get(name) is not None for name in _PKI_FIELDS)
    api_key = values.get("apiKey")
    if not pki_present and (api_key is None or (isinstance(api_key, str) and not api_key.strip())):
        # Kibana's one message for "no usable key"; checked first so an empty key says so
        unknown = set(values) - {"apiKey", *_PKI_FIELDS}
        if not unknown:
            raise ConnectorValidationError("secrets", MISSING_API_KEY)
    try:
        secrets = ConnectorSecrets.model_validate(values)
    except ValidationError as err:
        raise ConnectorValidationError("secrets", join_issues(issues_from(err))) from None
    blanks = blank_string_issues(values)
    if blanks:
        raise ConnectorValidationError("secrets", join_issues(blanks))
    if pki_present:
        problem = pki_problem(secrets.certificateData, secrets.privateKeyData, secrets.caData)
        if problem:
            raise ConnectorValidationError("secrets", problem)
    elif not secrets.apiKey:
        raise ConnectorValidationError("secrets", MISSING_API_KEY)
    return secrets


def secrets_to_dict(secrets: ConnectorSecrets) -> dict[str, str]:
    """The secret values, Kibana keys, for encryption at rest only (never for responses)."""
    dumped: dict[str, str] = secrets.model_dump(exclude_none=True)
    return dumped
