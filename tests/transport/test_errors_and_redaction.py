"""translate_error (the one exception mapping) and the log redaction helpers."""

from __future__ import annotations

import errno
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from llmrelay.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamProxyError,
    UpstreamTimeoutError,
    UpstreamTLSError,
)
from llmrelay.transport.client import translate_error
from llmrelay.transport.redact import MASK, redact_headers, redact_url


def _key(host: str = "api.example", port: int = 443) -> ConnectionKey:
    return ConnectionKey(host, port, True, True, None, None, None)


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    err.verify_code = code
    err.verify_message = message
    return err


def test_timeouts_read_like_axios() -> None:
    for exc in (TimeoutError(), aiohttp.ServerTimeoutError("read")):
        error = translate_error(exc, timeout_ms=60000)
        assert isinstance(error, UpstreamTimeoutError)
        assert (error.code, str(error)) == ("ECONNABORTED", "timeout of 60000ms exceeded")


def test_dns_failure_is_enotfound() -> None:
    exc = aiohttp.ClientConnectorDNSError(_key("nowhere.invalid"), socket.gaierror(-2, "x"))
    error = translate_error(exc, timeout_ms=1)
    assert isinstance(error, UpstreamConnectionError)
    assert (error.code, str(error)) == ("ENOTFOUND", "getaddrinfo ENOTFOUND nowhere.invalid")


def test_refused_and_proxy_refused() -> None:
    refused = OSError(errno.ECONNREFUSED, "refused")
    direct = translate_error(aiohttp.ClientConnectorError(_key(), refused), timeout_ms=1)
    assert type(direct) is UpstreamConnectionError
    assert (direct.code, str(direct)) == ("ECONNREFUSED", "connect ECONNREFUSED api.example:443")
    proxied = translate_error(
        aiohttp.ClientProxyConnectionError(_key("proxy", 3128), refused), timeout_ms=1
    )
    assert isinstance(proxied, UpstreamProxyError) and proxied.code == "ECONNREFUSED"


def test_proxy_rejecting_connect() -> None:
    exc = aiohttp.ClientHttpProxyError(None, (), status=407, message="Auth")  # type: ignore[arg-type]
    error = translate_error(exc, timeout_ms=1)
    assert isinstance(error, UpstreamProxyError)
    assert str(error) == "Bad response: 407"


@pytest.mark.parametrize(
    ("verify_code", "code", "message"),
    [
        (18, "DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"),
        (19, "SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
        (20, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
        (21, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
        (10, "CERT_HAS_EXPIRED", "certificate has expired"),
    ],
)
def test_certificate_errors_use_node_codes(verify_code: int, code: str, message: str) -> None:
    exc = aiohttp.ClientConnectorCertificateError(_key(), _verify_error(verify_code, "x"))
    error = translate_error(exc, timeout_ms=1)
    assert isinstance(error, UpstreamTLSError)
    assert (error.code, str(error)) == (code, message)


def test_hostname_mismatch() -> None:
    exc = aiohttp.ClientConnectorCertificateError(_key(), _verify_error(62, "mismatch"))
    error = translate_error(exc, timeout_ms=1)
    assert error.code == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert str(error) == (
        "Hostname/IP does not match certificate's altnames: "
        "Host: api.example. is not in the cert's altnames"
    )


def test_other_tls_failures_are_handshake_errors() -> None:
    alert = ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure")
    alert.reason = "SSLV3_ALERT_HANDSHAKE_FAILURE"
    wrapped = aiohttp.ClientOSError(1, "boom")
    wrapped.__cause__ = alert
    for exc in (aiohttp.ClientConnectorSSLError(_key(), alert), wrapped, alert):
        error = translate_error(exc, timeout_ms=1)
        assert isinstance(error, UpstreamTLSError)
        assert error.code == "ERR_TLS_HANDSHAKE"
        assert "sslv3 alert handshake failure" in str(error)


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (aiohttp.ServerDisconnectedError(), UpstreamConnectionError, "ECONNRESET"),
        (aiohttp.ClientPayloadError("cut"), UpstreamConnectionError, "ECONNRESET"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), UpstreamConnectionError, "ECONNRESET"),
        (OSError(errno.EPIPE, "pipe"), UpstreamConnectionError, "EPIPE"),
        (aiohttp.InvalidURL("x"), UpstreamProtocolError, "ERR_INVALID_URL"),
        (RuntimeError("Session is closed"), UpstreamConnectionError, ""),
    ],
)
def test_everything_else_becomes_an_upstream_error(
    exc: BaseException, cls: type[UpstreamError], code: str
) -> None:
    error = translate_error(exc, timeout_ms=1)
    assert type(error) is cls
    assert error.code == code
    assert not isinstance(error, aiohttp.ClientError)


def test_upstream_errors_pass_through_unchanged() -> None:
    original = UpstreamProtocolError("x", code="ERR_BAD_RESPONSE")
    assert translate_error(original, timeout_ms=1) is original


def test_redact_headers_masks_credentials_only() -> None:
    headers = {
        "Authorization": "Bearer sk-1",
        "api-key": "k",
        "Proxy-Authorization": "Basic x",
        "Cookie": "a=b",
        "X-Custom-Token": "t",
        "X-Secret-Thing": "s",
        "OpenAI-Organization": "org-1",
        "Content-Type": "application/json",
    }
    redacted = redact_headers(headers)
    assert {k for k, v in redacted.items() if v == MASK} == {
        "Authorization",
        "api-key",
        "Proxy-Authorization",
        "Cookie",
        "X-Custom-Token",
        "X-Secret-Thing",
    }
    assert redacted["OpenAI-Organization"] == "org-1"
    assert headers["Authorization"] == "Bearer sk-1"  # a copy, not in place


def test_redact_url_hides_passwords_and_key_parameters() -> None:
    url = "https://user:pw@api.example/v1/chat?api-version=2024&api_key=abc&sig=xyz"
    redacted = redact_url(url)
    assert "pw" not in redacted and "abc" not in redacted and "xyz" not in redacted
    assert redacted.startswith(f"https://user:{MASK}@api.example/v1/chat?")
    assert "api-version=2024" in redacted
