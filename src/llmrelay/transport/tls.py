"""TLS contexts for outbound calls (spec §1.5, §6.1, §6.2).

How the settings combine for one request:

1. Base mode = the PKI material's ``verification_mode`` when PKI is used, else
   ``xpack.actions.ssl.verificationMode``. ``full`` verifies chain and hostname,
   ``certificate`` the chain only, ``none`` nothing.
2. A ``customHostSettings`` entry whose canonical origin (``https://host:443``) equals the
   target's replaces the trusted CAs with its own (``certificateAuthoritiesData`` plus the
   files, read once at construction) and its ``verificationMode`` (default ``full``) decides
   verification for that host completely. Kibana only overwrites ``rejectUnauthorized`` and
   keeps the base mode's hostname check, so a per-host ``certificate`` still checked
   hostnames there; llmrelay honours it (docs/deviations.md, (h)).
3. The PKI client certificate and key are always presented when given.

Contexts are costly to build, so they are cached by a digest of the material and the
verification flags (never by the material itself, which is never logged). Private keys
are loaded through an anonymous in-memory file (``memfd_create``): key material never
touches a regular file. Any unencrypted key OpenSSL reads works (PKCS#8, PKCS#1 RSA,
SEC1 EC); an encrypted one is refused rather than prompting for a passphrase.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from llmrelay.domain.actions_settings import ActionsSettings, CustomHostSetting, VerificationMode
from llmrelay.domain.pki import ENCRYPTED_PRIVATE_KEY, KEY_MISMATCH, PkiMaterial, pem_digest
from llmrelay.domain.urls import canonical_origin
from llmrelay.errors import ConfigurationError, UpstreamTLSError

logger = logging.getLogger("llmrelay.transport")

_CACHE_SIZE = 256
_CERT_LOAD_FAILED = "Invalid or inaccessible PKI certificates: "


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """What a context verifies: derived from the settings, never holds key material."""

    verify: bool
    check_hostname: bool
    ca_digest: str | None  # None: the system trust store


@dataclass(frozen=True, slots=True, repr=False)
class CustomHostTls:
    """One usable ``customHostSettings`` entry (https origins only)."""

    origin: str
    ca_pem: bytes | None
    verification_mode: VerificationMode
    ca_digest: str | None = field(init=False, compare=False)  # once, not per request

    def __post_init__(self) -> None:
        ca_digest = pem_digest(self.ca_pem) if self.ca_pem is not None else None
        object.__setattr__(self, "ca_digest", ca_digest)

    def __repr__(self) -> str:
        return f"CustomHostTls({self.origin!r}, mode={self.verification_mode!r})"


def policy_for_mode(mode: VerificationMode) -> TlsPolicy:
    return TlsPolicy(verify=mode != "none", check_hostname=mode == "full", ca_digest=None)


def _read_ca_files(files: str | list[str] | None) -> list[bytes]:
    if not files:
        return []
    paths = [files] if isinstance(files, str) else list(files)
    out: list[bytes] = []
    for name in paths:
        try:
            out.append(Path(name).read_bytes())
        except OSError as err:
            raise ConfigurationError(
                "xpack.actions.customHostSettings: unable to read certificate authority file "
                f"{name!r}: {err.strerror or err}"
            ) from err
    return out


def load_custom_hosts(settings: ActionsSettings) -> dict[str, CustomHostTls]:
    """Usable https entries by canonical origin; others are warned about and ignored."""
    result: dict[str, CustomHostTls] = {}
    for entry in settings.customHostSettings:
        custom = _custom_host(entry)
        if custom is None:
            continue
        if custom.origin in result:
            logger.warning(
                "customHostSettings: duplicate entry for %s ignored (the first one wins)",
                custom.origin,
            )
            continue
        result[custom.origin] = custom
    return result


def _custom_host(entry: CustomHostSetting) -> CustomHostTls | None:
    origin = canonical_origin(entry.url)
    if origin is None:
        logger.warning("customHostSettings: ignoring unparsable url %r", entry.url)
        return None
    parts = urlsplit(entry.url)
    if parts.scheme.lower() != "https":
        if parts.scheme.lower() != "smtp":
            logger.warning(
                "customHostSettings: ignoring %s (only https:// entries apply to connectors)",
                origin,
            )
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        logger.warning(
            "customHostSettings: path, query, hash and credentials of %s are ignored", origin
        )
    ssl_settings = entry.ssl
    if ssl_settings is None:
        return CustomHostTls(origin, None, "full")
    pems: list[bytes] = []
    if ssl_settings.certificateAuthoritiesData:
        pems.append(ssl_settings.certificateAuthoritiesData.encode())
    pems.extend(_read_ca_files(ssl_settings.certificateAuthoritiesFiles))
    ca_pem = b"\n".join(p.strip() for p in pems) + b"\n" if pems else None
    if ca_pem is not None:
        try:
            ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as err:
            raise ConfigurationError(
                f"xpack.actions.customHostSettings: invalid certificate authorities for "
                f"{origin}: {err}"
            ) from err
    return CustomHostTls(origin, ca_pem, ssl_settings.verificationMode or "full")


def _load_client_cert(ctx: ssl.SSLContext, pki: PkiMaterial) -> None:
    """Load cert + key from an anonymous memory file, never from a regular file.

    Saved connectors were checked already (domain/pki.py); OpenSSL checks again here,
    once per context build, and its two failures worth naming get the save-time texts.
    """
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:  # pragma: no cover - Linux only
        raise ConfigurationError(
            "PKI client certificates need os.memfd_create (Linux); refusing to write the "
            "private key to a regular file"
        )
    fd: int = memfd_create("llmrelay-pki", os.MFD_CLOEXEC)
    try:
        data = pki.certificate_pem.rstrip() + b"\n" + pki.private_key_pem.rstrip() + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        ctx.load_cert_chain(f"/proc/self/fd/{fd}", password=_refuse_passphrase)
    except ssl.SSLError as err:
        reason = KEY_MISMATCH if err.reason == "KEY_VALUES_MISMATCH" else err.reason or err
        raise UpstreamTLSError(f"{_CERT_LOAD_FAILED}{reason}", code="ERR_TLS_CERT_LOAD") from err
    finally:
        os.close(fd)


def _refuse_passphrase() -> bytes:
    """OpenSSL asks for a passphrase only for an encrypted key: refuse with a clear message.

    Without a callback OpenSSL would prompt on the controlling terminal, if there is one.
    """
    raise UpstreamTLSError(f"{_CERT_LOAD_FAILED}{ENCRYPTED_PRIVATE_KEY}", code="ERR_TLS_CERT_LOAD")


def build_context(
    policy: TlsPolicy, ca_pem: bytes | None, pki: PkiMaterial | None
) -> ssl.SSLContext:
    """A fresh client context; blocking (reads the system trust store)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    if ca_pem is not None:
        try:
            ctx.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as err:
            raise UpstreamTLSError(f"{_CERT_LOAD_FAILED}{err}", code="ERR_TLS_CERT_LOAD") from err
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if policy.verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = policy.check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if pki is not None:
        _load_client_cert(ctx, pki)
    return ctx


class TlsContexts:
    """Per-client cache of target (and proxy) contexts; lookups are cheap, builds are not."""

    def __init__(self, settings: ActionsSettings) -> None:
        self._settings = settings
        self._custom = load_custom_hosts(settings)
        self._cache: OrderedDict[tuple[TlsPolicy, str | None], ssl.SSLContext] = OrderedDict()

    def custom_host(self, url: str) -> CustomHostTls | None:
        origin = canonical_origin(url)
        return self._custom.get(origin) if origin else None

    def plan(
        self, url: str, pki: PkiMaterial | None
    ) -> tuple[TlsPolicy, bytes | None, tuple[TlsPolicy, str | None]]:
        """Decide policy and CA for ``url``; returns (policy, ca_pem, cache key)."""
        base: VerificationMode = (
            pki.verification_mode if pki else self._settings.ssl.verificationMode
        )
        verify, check_hostname = base != "none", base != "certificate"
        ca_pem, ca_digest = (pki.ca_pem, pki.ca_digest) if pki else (None, None)
        custom = self.custom_host(url)
        if custom is not None:
            if custom.ca_pem is not None:
                ca_pem, ca_digest = custom.ca_pem, custom.ca_digest
            # deviation (h): the host's own mode decides fully, hostname check included
            verify = custom.verification_mode != "none"
            check_hostname = custom.verification_mode == "full"
        policy = TlsPolicy(
            verify=verify,
            check_hostname=verify and check_hostname,
            ca_digest=ca_digest,
        )
        material = pki.digest if pki else None
        return policy, ca_pem, (policy, material)

    def cached(self, key: tuple[TlsPolicy, str | None]) -> ssl.SSLContext | None:
        ctx = self._cache.get(key)
        if ctx is not None:
            self._cache.move_to_end(key)
        return ctx

    def store(self, key: tuple[TlsPolicy, str | None], ctx: ssl.SSLContext) -> ssl.SSLContext:
        existing = self._cache.setdefault(key, ctx)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return existing

    def context_for(self, url: str, pki: PkiMaterial | None = None) -> ssl.SSLContext:
        """Synchronous lookup-or-build (the client builds misses in a worker thread)."""
        policy, ca_pem, key = self.plan(url, pki)
        ctx = self.cached(key)
        if ctx is None:
            ctx = self.store(key, build_context(policy, ca_pem, pki))
        return ctx

    def proxy_context(self, mode: VerificationMode) -> ssl.SSLContext:
        """Context for the TLS hop to an ``https://`` proxy (system trust store)."""
        policy = policy_for_mode(mode)
        key = (policy, "proxy")
        ctx = self.cached(key)
        if ctx is None:
            ctx = self.store(key, build_context(policy, None, None))
        return ctx
