"""Connector secrets at rest: AES-256-GCM with the connector's attributes as AAD.

Key derivation: HKDF-SHA256 over the configured key string (``xpack.encryptedSavedObjects.
encryptionKey``, >= 32 characters) with distinct ``info`` labels, so the secrets key and the
API-key pepper are independent 32-byte keys from one setting (plain SHA-256 would give
both the same key).

Blob layout (one column): ``0x01 | nonce (12 random bytes) | ciphertext+tag``. The leading
version byte leaves room for another algorithm or key rotation later.

Associated data binds what Kibana's encrypted saved objects bind: the object descriptor
(space, id, type ``action``) and every attribute except ``name``
(``{"actionTypeId", "config", "isMissingSecrets"}``), as canonical JSON (sorted keys, no
spaces). Renaming keeps decryption working; changing config or type, or copying a blob to
another connector, makes it fail with :class:`DecryptionError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from llmrelay.errors import ConfigurationError, DecryptionError

ENCRYPTION_KEY_SETTING = "xpack.encryptedSavedObjects.encryptionKey"
MIN_KEY_LENGTH = 32
BLOB_VERSION = 1
_NONCE_BYTES = 12

_SECRETS_INFO = b"llmrelay/connector-secrets/aes-256-gcm/v1"
_PEPPER_INFO = b"llmrelay/api-key-pepper/hmac-sha256/v1"


def check_encryption_key(encryption_key: str) -> None:
    """Raise :class:`ConfigurationError` naming the setting (never the value) when too short."""
    if not encryption_key:
        raise ConfigurationError(
            f"{ENCRYPTION_KEY_SETTING} is not set; it must be a string of at least "
            f"{MIN_KEY_LENGTH} characters"
        )
    if len(encryption_key) < MIN_KEY_LENGTH:
        raise ConfigurationError(
            f"{ENCRYPTION_KEY_SETTING} must be at least {MIN_KEY_LENGTH} characters long "
            f"(got {len(encryption_key)})"
        )


def derive_key(encryption_key: str, purpose: bytes) -> bytes:
    """32 bytes for ``purpose`` from the configured key string (HKDF-SHA256)."""
    check_encryption_key(encryption_key)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
    return hkdf.derive(encryption_key.encode("utf-8"))


def api_key_pepper(encryption_key: str) -> bytes:
    """The server-side pepper for API-key hashes."""
    return derive_key(encryption_key, _PEPPER_INFO)


def canonical_json(value: object) -> bytes:
    """Sorted keys at every level, no whitespace."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def associated_data(
    *,
    space_id: str,
    connector_id: str,
    connector_type_id: str,
    config: Mapping[str, object],
    is_missing_secrets: bool,
) -> bytes:
    descriptor = {"namespace": space_id, "type": "action", "id": connector_id}
    attributes = {
        "actionTypeId": connector_type_id,
        "config": dict(config),
        "isMissingSecrets": is_missing_secrets,
    }
    return canonical_json([descriptor, attributes])


class SecretBox:
    """Seals and opens connector secrets with one derived key."""

    def __init__(self, encryption_key: str) -> None:
        self._aead = AESGCM(derive_key(encryption_key, _SECRETS_INFO))

    def seal(self, secrets: Mapping[str, object], *, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, orjson.dumps(dict(secrets)), aad)
        return bytes([BLOB_VERSION]) + nonce + sealed

    def open(self, blob: bytes, *, aad: bytes, connector_id: str) -> dict[str, object]:
        """Decrypt, or raise :class:`DecryptionError` naming the connector (not the secret)."""
        failure = DecryptionError(
            f"Unable to decrypt the secrets of connector {connector_id}: the encryption key "
            f"differs from the one used to store them, or the stored connector was modified"
        )
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != BLOB_VERSION:
            raise failure
        try:
            plain = self._aead.decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
        except InvalidTag:
            raise failure from None
        value = orjson.loads(plain)
        if not isinstance(value, dict):
            raise failure
        return value
