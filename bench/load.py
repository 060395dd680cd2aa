"""Load generators: ``wrk`` for request/response throughput and latency, and an asyncio
aiohttp client for streams (first byte, every event's arrival, many open streams).

wrk (C, one thread) costs far less CPU than a Python client, which matters when client,
mock and gateway share two cores. Its Lua ``done`` hook prints one JSON line with the
exact microsecond percentiles, and a ``response`` hook counts answers that are not what
the target must answer (a 200 ``_execute`` envelope with ``status: "error"`` included).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.procs import HOST

_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
bad = 0
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, [==[{ok}]==], 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"mean":%.2f,' ..
    '"max":%d,"errors":%d,"bad":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max,
    e.connect + e.read + e.write + e.status + e.timeout, b))
end
"""


@dataclass(frozen=True)
class Request:
    """One kind of request to one target: what wrk and the stream client send."""

    port: int
    path: str
    body: bytes
    headers: Mapping[str, str]
    ok: str  # a substring every good answer contains

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"


def write_lua(request: Request, path: Path) -> Path:
    headers = "\n".join(
        f'wrk.headers["{k}"] = "{v}"'
        for k, v in {"Content-Type": "application/json", **request.headers}.items()
    )
    path.write_text(_LUA.format(body=request.body.decode(), headers=headers, ok=request.ok))
    return path


def run_wrk(request: Request, lua: Path, *, connections: int, seconds: float) -> dict[str, float]:
    """Latencies in milliseconds, requests/s, and counts of errors and bad answers."""
    out = subprocess.run(  # noqa: S603 - fixed command line
        [  # noqa: S607 - Debian's wrk on PATH
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            request.url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(line[8:])
    duration = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / duration,
        "p50_ms": raw["p50"] / 1000,
        "p90_ms": raw["p90"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "mean_ms": raw["mean"] / 1000,
        "max_ms": raw["max"] / 1000,
        "errors": raw["errors"],
        "bad": raw["bad"],
    }


@dataclass
class StreamSample:
    first_byte_ms: float
    events: int
    gaps_ms: list[float]
    body: bytes


async def one_stream(session: aiohttp.ClientSession, request: Request) -> StreamSample:
    """Send one streaming request; time the first byte and every SSE event's arrival."""
    start = time.perf_counter()
    first = 0.0
    arrivals: list[float] = []
    body = bytearray()
    async with session.post(request.url, data=request.body, headers=request.headers) as answer:
        if answer.status != 200:
            raise RuntimeError(f"{request.url}: {answer.status} {await answer.text()}")
        async for chunk in answer.content.iter_any():
            now = time.perf_counter()
            if not first:
                first = now
            before = body.count(b"\n\n")
            body += chunk
            arrivals.extend([now] * (body.count(b"\n\n") - before))
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return StreamSample((first - start) * 1000, len(arrivals), gaps, bytes(body))


async def stream_batch(request: Request, count: int) -> list[StreamSample]:
    """``count`` streams one after another on one keep-alive session."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        return [await one_stream(session, request) for _ in range(count)]


async def many_open_streams(
    request: Request,
    count: int,
    *,
    settle: float,
    deadline: float,
    measure: object,
) -> dict[str, float]:
    """Open ``count`` slow streams at once; when all have their first event (or at the
    deadline), wait ``settle`` seconds, call ``measure()`` and close every stream."""
    opened = 0
    first = asyncio.Event()
    failures = 0

    async def hold(session: aiohttp.ClientSession) -> None:
        nonlocal opened, failures
        try:
            async with session.post(
                request.url, data=request.body, headers=request.headers
            ) as answer:
                if answer.status != 200:
                    failures += 1
                    return
                async for _ in answer.content.iter_any():
                    opened += 1
                    if opened == count:
                        first.set()
                    await asyncio.sleep(3600)  # hold it open; cancelled by the harness
        except (aiohttp.ClientError, TimeoutError):
            failures += 1

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        tasks = [asyncio.create_task(hold(session)) for _ in range(count)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), deadline)
        all_open_s = time.perf_counter() - start
        await asyncio.sleep(settle)
        measured = measure()  # type: ignore[operator]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "opened": opened,
        "failures": failures,
        "seconds_to_open": all_open_s,
        "measured": measured,
    }


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
