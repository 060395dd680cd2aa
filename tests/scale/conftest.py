"""Real ``llmrelay serve`` processes on loopback sharing one database (scale-out tests).

:class:`RelayProcess` starts ``python -m llmrelay.cli serve`` with its own data directory
(spool) and the shared database URL and encryption key, waits until it answers, and stops
it (SIGTERM, then SIGKILL) when the test ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from llmrelay.store import default_url, open_store
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import ADMIN_PASSWORD, ENCRYPTION_KEY, basic

START_TIMEOUT = 90.0  # spawned workers import everything; CI hosts can be busy


def free_port() -> int:
    """A free loopback port below 32768 (the ephemeral range starts above it)."""
    for _ in range(100):
        port = int.from_bytes(os.urandom(2)) % 12000 + 20000
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


@dataclass
class RelayProcess:
    home: Path
    database_url: str
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_key(self) -> dict[str, str]:
        """Headers with a new admin API key: verified by a fast keyed hash, where a Basic
        password costs a deliberately slow scrypt per process and worker."""

        async def create() -> str:
            url = self.database_url or default_url(self.home)
            async with await open_store(url, encryption_key=ENCRYPTION_KEY) as store:
                _, encoded = await store.users.create_api_key(
                    name="scale", owner=None, roles=["admin"]
                )
            return encoded

        return {"Authorization": f"ApiKey {asyncio.run(create())}", "kbn-xsrf": "true"}

    @property
    def log(self) -> Path:
        return self.home.parent / f"{self.home.name}.log"

    def start(self) -> RelayProcess:
        for _ in range(3):  # the port may be taken between the probe and the bind
            self.port = free_port()
            env = {
                **os.environ,
                "LLMRELAY_HOME": str(self.home),
                "LLMRELAY_DATABASE_URL": self.database_url,
                "LLMRELAY_ENCRYPTION_KEY": ENCRYPTION_KEY,
                "LLMRELAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LLMRELAY_LOG_FORMAT": "text",
                **self.env,
            }
            command = [sys.executable, "-m", "llmrelay.cli", "serve"]
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
            command += ["--workers", str(self.workers)]
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_ready():
                return self
            if "cannot listen" not in self.log.read_text(errors="replace"):
                break
        self.stop()
        pytest.fail(f"llmrelay did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/api/openapi.json", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


RelayFactory = Callable[..., RelayProcess]


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[RelayFactory]:
    """``relay_process(database_url, workers=1, **env)`` -> a started :class:`RelayProcess`."""
    started: list[RelayProcess] = []

    def start(database_url: str, *, workers: int = 1, **env: str) -> RelayProcess:
        home = tmp_path / f"home{len(started) + 1}"
        relay = RelayProcess(home, database_url, workers=workers, env=env)
        started.append(relay)
        return relay.start()

    try:
        yield start
    finally:
        for relay in started:
            relay.stop()


ADMIN = {**basic("admin", ADMIN_PASSWORD), "kbn-xsrf": "true"}


def connector_body(upstream: FakeUpstream, api_key: str, name: str = "shared") -> dict[str, object]:
    return {
        "name": name,
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
        "secrets": {"apiKey": api_key},
    }


RUN = {
    "params": {
        "subAction": "run",
        "subActionParams": {"body": '{"messages": [{"role": "user", "content": "hi"}]}'},
    }
}
