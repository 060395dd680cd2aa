"""The end-to-end tier: a real model (SmolLM2-135M via llama-cpp-python) on loopback.

``make test`` builds and installs the model runtime before pytest runs; without it these
tests fail (never skip) and say so, so a green run always includes them.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from llmrelay.cli.local_llm import (
    LocalModelProcess,
    check_runtime,
    find_model,
)
from llmrelay.errors import LocalModelUnavailableError


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768+), which outgoing
    connections of the rest of the suite draw from."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767")


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of ``llmrelay local-llm`` for the session."""
    missing: str | None = None
    try:
        check_runtime()
        find_model()
    except LocalModelUnavailableError as err:
        missing = err.reason
    if missing is not None:  # fail, never skip: a green run must include this tier
        pytest.fail(
            f"the e2e tier needs the real local model, but {missing}. "
            "Run `make test`, which builds it once (about 5 minutes) and installs it.",
            pytrace=False,
        )
    model = LocalModelProcess(free_port(), tmp_path_factory.mktemp("local-llm") / "model.log")
    model.start()
    try:
        model.wait_ready(timeout=90)
        yield model.base_url
    finally:
        model.stop()
