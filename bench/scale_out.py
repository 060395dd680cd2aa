"""Scale-out benchmark (not a test): one vs two workers, and the dashboard over N events.

1. Throughput: ``llmrelay serve --workers 1`` then ``--workers 2`` (same store), driven by
   ``wrk`` with non-streamed ``_execute`` calls (API key auth) against the fast mock
   upstream (``bench.mock_upstream``, its own process). Reports requests/s and latency.
2. Dashboard: the rollup rows ``N`` execute events spread over 30 days would leave
   (10 connectors x 4 models x 10 users; ~175 of those 400 combinations active per
   minute), written straight into a freshly migrated store with SQL, then the calls
   ``GET /api/llmrelay/usage`` makes (``EventRepository.usage``) timed: the 30-day page
   (by day, grouped by user, connector, model), 24 hours by hour, 60 minutes by minute.

Both run on SQLite and on PostgreSQL (a throwaway cluster as in the tests, which needs
root and Debian's ``postgresql``; or ``--pg-url``). Results print as JSON lines and are
summarised in docs/deployment.md's sizing table.

    python -m bench.scale_out                      # everything, 10 million events
    python -m bench.scale_out --events 1000000 --skip-throughput
"""

# ruff: noqa: S105, S603, S607, S608
# S105: a throwaway benchmark password; S603, S607: starts our own programs and wrk; S608: SQL
# built from integer constants of this file, never from input.

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from llmrelay.store import default_url, open_store
from llmrelay.store.events import EventRepository

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-encryption-key-of-at-least-32-chars"
ADMIN_PASSWORD = "bench-admin-password"
DAYS = 30
CONNECTORS, MODELS, USERS = 10, 4, 10
COMBOS = CONNECTORS * MODELS * USERS
ACTIVE_PER_MINUTE = 175


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with suppress(httpx.TransportError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def _postgres(url: str | None) -> Iterator[Any]:
    """``(make_database_url)`` on the given server, or on a throwaway cluster."""
    if url:
        yield lambda: url
        return
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.postgres import PostgresCluster

    cluster = PostgresCluster()
    try:
        yield lambda: cluster.url(cluster.acquire())
    finally:
        cluster.stop()


# --- throughput ---------------------------------------------------------------------------


async def _api_key(database_url: str) -> str:
    async with await open_store(database_url, encryption_key=KEY) as store:
        _, encoded = await store.users.create_api_key(name="bench", owner=None, roles=["admin"])
    return encoded


def throughput(
    database_url: str | None, workers: int, *, seconds: float, connections: int
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="llmrelay-scale-"))
    mock_port, port = _free_port(), _free_port()
    env = {
        **os.environ,
        "LLMRELAY_HOME": str(home),
        "LLMRELAY_ENCRYPTION_KEY": KEY,
        "LLMRELAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "LLMRELAY_DATABASE_URL": database_url or "",
        "LLMRELAY_LOG_FORMAT": "text",
    }
    mock = subprocess.Popen(
        [sys.executable, "-m", "bench.mock_upstream", "--port", str(mock_port)], cwd=ROOT
    )
    relay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmrelay.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/api/openapi.json", relay)
        key = asyncio.run(_api_key(database_url or default_url(home)))
        headers = {"Authorization": f"ApiKey {key}", "kbn-xsrf": "true"}
        created = httpx.post(
            base + "/api/actions/connector",
            headers=headers,
            timeout=30,
            json={
                "name": "bench",
                "connector_type_id": ".gen-ai",
                "config": {
                    "apiProvider": "Other",
                    "apiUrl": f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                    "defaultModel": "m",
                },
                "secrets": {"apiKey": "k"},
            },
        )
        url = f"{base}/api/actions/connector/{created.json()['id']}/_execute"
        body = json.dumps(
            {
                "params": {
                    "subAction": "run",
                    "subActionParams": {
                        "body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})
                    },
                }
            }
        )
        for _ in range(20):  # warm every worker's caches and pools
            httpx.post(url, content=body, headers=headers, timeout=30)
        return {"workers": workers, **_wrk(url, body, headers, seconds, connections)}
    finally:
        _stop(relay)
        _stop(mock)
        shutil.rmtree(home, ignore_errors=True)


def _wrk(
    url: str, body: str, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, Any]:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": round(rps),
        "p50_ms": _ms(p50),
        "p99_ms": _ms(p99),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "connections": connections,
    }


def _ms(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


# --- dashboard ----------------------------------------------------------------------------


def _rollup_sql(dialect: str, events: int, now: datetime) -> list[str]:
    """INSERT ... SELECT statements producing the rollups of ``events`` executions."""
    minutes = DAYS * 24 * 60
    per_minute = events / minutes
    start = (now - timedelta(days=DAYS)).replace(second=0, microsecond=0)
    start_us = int(start.timestamp()) * 1_000_000
    # up to ACTIVE_PER_MINUTE combinations per minute, each with ``each`` executions
    each = max(1, math.ceil(per_minute / ACTIVE_PER_MINUTE))
    active = max(1, min(COMBOS, round(per_minute / each)))
    if dialect == "postgresql":
        bucket = "to_timestamp({base} + m * {step})"
        series = "generate_series(0, {count} - 1) AS s(m)"
    else:
        bucket = "({base_us} + m * {step_us})"
        series = (
            "(WITH RECURSIVE s(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM s "
            "WHERE m + 1 < {count}) SELECT m FROM s) AS s"
        )
    combos = (
        "(WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c "
        f"WHERE n + 1 < {COMBOS}) SELECT n FROM c) AS c"
    )
    statements = []
    for interval, step, factor, count in (
        ("minute", 60, 1, minutes),
        ("hour", 3600, 60, DAYS * 24),
        ("day", 86400, 1440, DAYS),
    ):
        # hours and days hold every combination: the minute executions spread over them
        execs = f"{each}" if factor == 1 else f"({each} * {factor} * {active} / {COMBOS})"
        where = f"WHERE (m * 7 + n * 13) % {COMBOS} < {active}" if interval == "minute" else ""
        when = bucket.format(
            base=int(start.timestamp()), step=step, base_us=start_us, step_us=step * 1_000_000
        )
        statements.append(
            "INSERT INTO usage_rollups (interval, bucket, space_id, connector_id, model, "
            "user_name, usage_source, endpoint, route_id, prompt_tokens, completion_tokens, "
            "total_tokens, executions, failures, cost_nano_usd, unpriced_tokens, "
            "unpriced_executions) "
            f"SELECT '{interval}', {when}, 'default', 'c' || (n % {CONNECTORS}), "
            f"'model-' || ((n / {CONNECTORS}) % {MODELS}), "
            f"'user-' || (n / {CONNECTORS * MODELS}), 'response', 'chat', '', "
            f"{execs} * 20, {execs} * 30, {execs} * 50, {execs}, 0, {execs} * 250000, 0, 0 "
            f"FROM {series.format(count=count)} CROSS JOIN {combos} {where}"
        )
    return statements


async def dashboard(database_url: str, events: int, repeats: int) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from llmrelay.store.schema import usage_rollups

    now = datetime.now(UTC)
    async with await open_store(database_url, encryption_key=KEY) as store:
        dialect = store.engine.dialect.name
        started = time.perf_counter()
        async with store.engine.begin() as conn:
            for statement in _rollup_sql(dialect, events, now):
                await conn.execute(text(statement))
            if dialect == "postgresql":
                await conn.execute(text("ANALYZE usage_rollups"))
        async with store.engine.connect() as conn:
            rows = await conn.scalar(select(func.count()).select_from(usage_rollups))
            represented = await conn.scalar(
                select(func.sum(usage_rollups.c.executions)).where(
                    usage_rollups.c.interval == "day"
                )
            )
        if dialect == "sqlite":
            async with store.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        filled = time.perf_counter() - started
        repo: EventRepository = store.events
        queries: dict[str, list[dict[str, Any]]] = {
            "30 days by day (x3 groupings)": [
                dict(start=now - timedelta(days=30), interval="day", group_by=group)
                for group in ("user", "connector", "model")
            ],
            "24 hours by hour, by connector": [
                dict(start=now - timedelta(hours=24), interval="hour", group_by="connector")
            ],
            "60 minutes by minute, by user": [
                dict(start=now - timedelta(minutes=60), interval="minute", group_by="user")
            ],
        }
        timings: dict[str, float] = {}
        for name, calls in queries.items():
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(repo.usage(space_id="default", end=now, **call) for call in calls)
                )
                samples.append(time.perf_counter() - t0)
            timings[name] = round(statistics.median(samples) * 1000, 1)
    return {
        "backend": dialect,
        "events_represented": int(represented or 0),
        "rollup_rows": int(rows or 0),
        "fill_s": round(filled, 1),
        "median_ms": timings,
    }


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (default: throwaway)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-dashboard", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)

    def emit(kind: str, result: dict[str, Any]) -> None:
        print(json.dumps({"bench": kind, **result}), flush=True)

    backends: list[str] = ["sqlite"] + ([] if args.skip_postgres else ["postgresql"])
    with _postgres(None if args.skip_postgres else args.pg_url) as new_pg_database:
        for backend in backends:
            if not args.skip_throughput:
                for workers in (1, 2):
                    url = new_pg_database() if backend == "postgresql" else None
                    result = throughput(
                        url, workers, seconds=args.seconds, connections=args.connections
                    )
                    emit("throughput", {"backend": backend, **result})
            if not args.skip_dashboard:
                with tempfile.TemporaryDirectory(prefix="llmrelay-dash-") as tmp:
                    url = new_pg_database() if backend == "postgresql" else default_url(Path(tmp))
                    emit("dashboard", asyncio.run(dashboard(url, args.events, args.repeats)))


if __name__ == "__main__":
    main()
