"""Installing llmrelay the way a user does, offline, for the install tests.

``make unit`` / ``make test`` first fill ``.venv/wheelhouse`` with everything ``pip install .``
and ``make run`` install (the Makefile's ``wheelhouse`` target, which may use the package
registries). The tests then install from there alone (no index, no pip configuration of
this machine), so they prove a plain install works and never reach the network.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
_STAMP = ROOT / ".venv" / ".stamp-wheelhouse"
_STAMP_INPUTS = ("pyproject.toml", "Makefile", "scripts/local_llm_setup.py")  # as in Makefile


def wheelhouse() -> Path:
    """The Makefile's wheelhouse; fails (never skips) when it is missing or out of date, so
    a green run always includes the install tests."""
    if not _STAMP.exists():
        problem = f"the wheelhouse {WHEELHOUSE} has not been built"
    else:
        stale = [n for n in _STAMP_INPUTS if (ROOT / n).stat().st_mtime > _STAMP.stat().st_mtime]
        problem = f"the wheelhouse is older than {', '.join(stale)}" if stale else ""
    if problem:
        pytest.fail(
            f"{problem}. Run `make test` (or `make wheelhouse`), which builds it before pytest.",
            pytrace=False,
        )
    return WHEELHOUSE


def offline_env(wheels: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with pip confined to ``wheels``: no index, no config file
    (this machine's points at extra indexes), nothing of the calling venv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(wheels),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def run(cmd: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 300) -> str:
    """Run ``cmd``; fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        cmd, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    return result.stdout


def wait_answering(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers (any status); fail with the log if ``proc`` exits or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before answering:\n{tail(log)}", pytrace=False)
        try:
            httpx.get(url, timeout=2, trust_env=False)
            return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{tail(log)}", pytrace=False)
        time.sleep(0.2)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """End ``proc`` and every process of its group (started with ``start_new_session``):
    SIGTERM, then SIGKILL for whatever is left after ``grace`` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # anyone of the group left?
        except ProcessLookupError:
            break
        proc.poll()  # reap the leader so it does not count as alive
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text("utf-8", "replace")[-chars:]
    except OSError:
        return "(no log)"
