"""Suite-wide hygiene and shared fixtures.

Fixture modules live in tests/fixtures/ and are loaded as plugins so each stays small:
``upstream`` (FakeUpstream over plain HTTP, TLS and mTLS) and ``proxy`` (tinyproxy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import trustme

pytest_plugins = [
    "tests.fixtures.upstream",
    "tests.fixtures.proxy",
    "tests.fixtures.service",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
    "tests.fixtures.secret_scan",
]

_LEAKY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy, OpenAI or llmrelay variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name in _LEAKY_VARS or name.startswith(("OPENAI_", "LLMRELAY_", "AZURE_OPENAI")):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The test certificate authority; every TLS server in the suite chains to it."""
    return trustme.CA()


@pytest.fixture(scope="session")
def other_ca() -> trustme.CA:
    """A second, untrusted authority for "unknown issuer" cases."""
    return trustme.CA()
