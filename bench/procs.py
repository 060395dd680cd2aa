"""Processes under test: start, wait until they answer, read their CPU time and memory.

CPU is utime+stime from ``/proc/<pid>/stat`` summed over the process and its descendants
(LiteLLM may fork), memory is ``VmRSS`` summed the same way. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    tree = _children()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@dataclass
class Proc:
    """A server process started by the harness; ``pids`` is refreshed on demand."""

    name: str
    cmd: list[str]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    pids: list[int] = field(default_factory=list)

    def start(self) -> Proc:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(  # noqa: S603 - the harness's own commands
            self.cmd,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def refresh(self) -> list[int]:
        self.pids = process_tree(self.pid)
        return self.pids

    def cpu(self) -> float:
        return cpu_seconds(self.pids or self.refresh())

    def rss(self) -> int:
        return rss_bytes(self.refresh())

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def wait_idle(proc: Proc, *, window: float = 0.1, limit: float = 3.0) -> float:
    """Wait (at most ``limit`` s) until ``proc`` uses under a tenth of a core over ``window``
    seconds; returns the seconds waited. Run after each measured run, so that a target still
    finishing its work (an event-log backlog, LiteLLM's queued requests) does not run on into
    the next target's measurement, which the round order would turn into a bias."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit and proc.alive():
        before = proc.cpu()
        time.sleep(window)
        if proc.cpu() - before < window / 10:
            break
    return time.perf_counter() - start


def post(
    port: int, path: str, body: bytes, headers: Mapping[str, str], timeout: float = 10.0
) -> tuple[int, bytes]:
    """One blocking POST on a new connection (readiness probes and checks)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(
            "POST", path, body=body, headers={"content-type": "application/json", **headers}
        )
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def wait_answered(
    proc: Proc,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    ok: bytes = b"",
    deadline: float = 60.0,
) -> float:
    """Seconds from process start until ``path`` answers 200 (containing ``ok``)."""
    last = "no answer"
    while time.perf_counter() - proc.started_at < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen and proc.popen.returncode}")
        try:
            status, data = post(proc.port, path, body, headers, timeout=5)
        except OSError as exc:
            last = str(exc)
            time.sleep(0.005)
            continue
        if status == 200 and ok in data:
            return time.perf_counter() - proc.started_at
        last = f"{status} {data[:300]!r}"
        time.sleep(0.02)
    raise RuntimeError(f"{proc.name} did not answer {path} within {deadline}s: {last}")
