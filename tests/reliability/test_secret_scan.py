"""The suite-wide secret scan (tests/fixtures/secret_scan.py) does catch what it should."""

from __future__ import annotations

import base64
import logging

import trustme

from tests.fixtures.secret_scan import SCAN, SecretScan, key_fragments
from tests.helpers.pki import pki_secrets


def _logger(scan: SecretScan) -> logging.Logger:
    logger = logging.getLogger("secret-scan-selftest")
    logger.propagate = False  # the session's own scan must not see these on purpose
    logger.handlers[:] = [scan]
    logger.setLevel(logging.DEBUG)
    return logger


def test_scan_flags_keys_passwords_and_private_keys(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("scan.example")
    scan = SecretScan()
    scan.add(*key_fragments(leaf.private_key_pem.bytes()))
    log = _logger(scan)
    log.info("clean line about connector %s", "abc")
    assert scan.findings == []
    log.debug("headers %s", {"Authorization": "Bearer sk-abcdef-123"})
    log.warning("privateKeyData=%s", pki_secrets(leaf)["privateKeyData"])
    log.error("pem %s", leaf.private_key_pem.bytes().decode())
    try:
        raise ValueError("admin-password-for-tests")
    except ValueError:
        log.exception("failed")
    assert len(scan.findings) == 4, scan.findings
    assert all("sk-abcdef-123" not in f for f in scan.findings)  # the report masks them


def test_session_scan_knows_every_issued_key(client_cert: trustme.LeafCert) -> None:
    pem = client_cert.private_key_pem.bytes()
    assert SCAN.matcher().search(base64.b64encode(pem).decode())
    assert logging.getLogger().handlers.count(SCAN) == 1
