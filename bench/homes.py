"""Data dirs for the relay targets, prepared through each code's own CLI and HTTP API.

The harness must prepare a home for this checkout and for an earlier commit alike, so it
uses nothing internal: ``llmrelay users create`` and ``llmrelay api-keys create`` (the
CLI works on the data dir directly; there is no HTTP route for API keys) run by a
subprocess of that code, then a short-lived ``llmrelay serve`` of that code on the new
home, to which the connectors are ``POST``-ed as Kibana would (``/api/actions/connector/
<id>``, Basic auth as ``admin``). Further homes are copies of the first one, made after
that server stopped: the same users, key and connectors, an empty event log of their own.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from bench.baseline import ROOT, Code
from bench.procs import HOST, Proc

ENCRYPTION_KEY = "bench-encryption-key-0123456789abcdef"
ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 - a throwaway data dir
BENCH_PASSWORD = "bench-password"  # noqa: S105 - a throwaway data dir


@dataclass(frozen=True)
class RelayHome:
    home: Path
    key: str  # encoded llmrelay API key (roles connectors_read, owner ``bench``)
    code: Code

    def env(self) -> dict[str, str]:
        return {
            **self.code.env(),
            "LLMRELAY_HOME": str(self.home),
            "LLMRELAY_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "LLMRELAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }

    def copy(self, home: Path) -> RelayHome:
        shutil.copytree(self.home, home)
        return replace(self, home=home)


def _cli(home: RelayHome, *args: str) -> str:
    out = subprocess.run(  # noqa: S603 - the venv's Python running llmrelay's CLI
        [sys.executable, "-m", "llmrelay.cli", *args],
        env={**os.environ, **home.env()},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(
            f"bench: `llmrelay {args[0]} {args[1]}` of {home.code.sha[:12]} failed: "
            f"{(out.stderr or out.stdout).strip()[-500:]}"
        )
    return out.stdout


def _call(port: int, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "kbn-xsrf": "bench"}
    data = None
    if body is not None:
        data = orjson.dumps(body)
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _wait_up(proc: Proc, deadline: float = 60.0) -> None:
    last = "no answer"
    while time.perf_counter() - proc.started_at < deadline:
        if not proc.alive():
            raise SystemExit(f"bench: {proc.name} exited while preparing its home (see {proc.log})")
        try:
            status, data = _call(proc.port, "GET", "/api/actions/connectors")
        except OSError as exc:
            last = str(exc)
            time.sleep(0.05)
            continue
        if status == 200:
            return
        last = f"{status} {data[:200]!r}"
        time.sleep(0.05)
    raise SystemExit(f"bench: {proc.name} did not answer within {deadline}s: {last}")


def prepare(
    code: Code,
    home: Path,
    connectors: Mapping[str, Mapping[str, object]],
    serve: Proc,
) -> RelayHome:
    """Users and API key by the CLI; ``connectors`` (id -> body) through ``serve``, a server
    process of ``code`` on ``home`` that is started here and stopped before returning."""
    home.mkdir(parents=True)
    draft = RelayHome(home, "", code)
    _cli(draft, "users", "create", "admin", "--password", ADMIN_PASSWORD, "--roles", "admin")
    _cli(draft, "users", "create", "bench", "--password", BENCH_PASSWORD)
    printed = _cli(draft, "api-keys", "create", "--name", "bench", "--owner", "bench")
    key = printed.strip().splitlines()[-1].strip()
    serve.start()
    try:
        _wait_up(serve)
        for connector_id, body in connectors.items():
            status, data = _call(serve.port, "POST", f"/api/actions/connector/{connector_id}", body)
            if status != 200:
                raise SystemExit(
                    f"bench: creating connector {connector_id!r} on {code.sha[:12]} answered "
                    f"{status}: {data[:300].decode(errors='replace')}"
                )
    finally:
        serve.stop()
    return replace(draft, key=key)
