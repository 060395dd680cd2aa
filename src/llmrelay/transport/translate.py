"""The only place that knows aiohttp's, ssl's and the OS's exceptions.

:func:`translate_error` maps them onto the ``llmrelay.errors`` tree with Node-style codes and
messages, so the executor can format them exactly as Kibana does (``Unexpected API Error:
ECONNREFUSED - connect ECONNREFUSED 127.0.0.1:8080``). Nothing from aiohttp leaks past it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl

import aiohttp

from llmrelay.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamProxyError,
    UpstreamTimeoutError,
    UpstreamTLSError,
)

__all__ = ["translate_error"]

_VERIFY_CODES: dict[int, tuple[str, str]] = {
    2: ("UNABLE_TO_GET_ISSUER_CERT", "unable to get issuer certificate"),
    7: ("CERT_SIGNATURE_FAILURE", "certificate signature failure"),
    9: ("CERT_NOT_YET_VALID", "certificate is not yet valid"),
    10: ("CERT_HAS_EXPIRED", "certificate has expired"),
    18: ("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"),
    19: ("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
    # Node keeps verifying after the first error and reports the last one: for an unknown
    # issuer of a lone leaf that is 21. Python stops at 20; we report what Node reports.
    20: ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    21: ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    23: ("CERT_REVOKED", "certificate revoked"),
    26: ("INVALID_PURPOSE", "unsupported certificate purpose"),
}
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


def _tls_error(err: ssl.SSLError, host: str | None) -> UpstreamTLSError:
    if isinstance(err, ssl.SSLCertVerificationError):
        code = getattr(err, "verify_code", None)
        if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
            if code == _IP_MISMATCH or _is_ip(host):
                detail = f"IP: {host} is not in the cert's list"
            else:
                detail = f"Host: {host}. is not in the cert's altnames"
            return UpstreamTLSError(
                f"Hostname/IP does not match certificate's altnames: {detail}",
                code="ERR_TLS_CERT_ALTNAME_INVALID",
            )
        if code in _VERIFY_CODES:
            name, message = _VERIFY_CODES[code]
            return UpstreamTLSError(message, code=name)
        message = getattr(err, "verify_message", None) or str(err)
        return UpstreamTLSError(message, code="ERR_TLS_HANDSHAKE")
    reason = (getattr(err, "reason", None) or "").replace("_", " ").lower() or str(err)
    return UpstreamTLSError(f"TLS handshake failed: {reason}", code="ERR_TLS_HANDSHAKE")


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return False
    return True


def _ssl_in_chain(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        os_error = getattr(current, "os_error", None)  # aiohttp's wrappers subclass SSLError
        if isinstance(os_error, ssl.SSLError):
            return os_error
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _errno_code(err: BaseException | None) -> str:
    if isinstance(err, socket.gaierror):
        return "ENOTFOUND"
    number = getattr(err, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        return errno.errorcode[number]
    return ""


def translate_error(
    exc: BaseException, *, timeout_ms: int, proxy: tuple[str, int] | None = None
) -> UpstreamError:
    """Map an aiohttp / ssl / OS exception onto the error tree with Node-style codes.

    ``proxy`` (host, port) marks connection-level failures towards the proxy itself
    (refused, TLS) as :class:`UpstreamProxyError`, keeping their code.
    """
    error = _translate(exc, timeout_ms)
    if (
        proxy is not None
        and isinstance(exc, aiohttp.ClientConnectorError)
        and not isinstance(error, UpstreamProxyError)
        and (exc.host, exc.port) == proxy
    ):
        return UpstreamProxyError(f"{error} (proxy)", code=error.code)
    return error


def _translate(exc: BaseException, timeout_ms: int) -> UpstreamError:
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):  # asyncio.timeout and aiohttp.ServerTimeoutError
        return UpstreamTimeoutError(f"timeout of {timeout_ms}ms exceeded", code="ECONNABORTED")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return UpstreamProxyError(f"Bad response: {exc.status}", code="")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError) and isinstance(
        exc.certificate_error, ssl.SSLError
    ):
        return _tls_error(exc.certificate_error, exc.host)
    tls = _ssl_in_chain(exc)
    if tls is not None:
        return _tls_error(tls, getattr(exc, "host", None))
    if isinstance(exc, aiohttp.ClientConnectorError):
        host, port = exc.host, exc.port
        if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(
            exc.os_error, socket.gaierror
        ):
            cls: type[UpstreamError] = UpstreamConnectionError
            if isinstance(exc, aiohttp.ClientProxyConnectionError):
                cls = UpstreamProxyError
            return cls(f"getaddrinfo ENOTFOUND {host}", code="ENOTFOUND")
        code = _errno_code(exc.os_error) or "ECONNREFUSED"
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return UpstreamProxyError(f"connect {code} {host}:{port} (proxy)", code=code)
        return UpstreamConnectionError(f"connect {code} {host}:{port}", code=code)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamConnectionError("socket hang up", code="ECONNRESET")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamConnectionError("aborted", code="ECONNRESET")
    if isinstance(exc, ConnectionResetError):
        return UpstreamConnectionError("read ECONNRESET", code="ECONNRESET")
    if isinstance(exc, aiohttp.InvalidURL):
        return UpstreamProtocolError(f"Invalid URL: {exc}", code="ERR_INVALID_URL")
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamProtocolError(f"Parse Error: {exc.message}", code="HPE_INVALID_RESPONSE")
    if isinstance(exc, OSError):
        code = _errno_code(exc)
        return UpstreamConnectionError(str(exc) or code or type(exc).__name__, code=code)
    message = str(exc) or type(exc).__name__
    return UpstreamConnectionError(message, code=_errno_code(exc.__cause__))
