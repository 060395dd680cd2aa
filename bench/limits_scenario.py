"""Scenario 9: three limits active (connector, user, API key) vs none, c=16, one worker.

One relay, started for it from a copy of the harness's home. Three limits (figures far
above what a run can reach, so nothing is refused and every request passes admission and
accounting) cover the ``fast`` connector, the ``bench`` user and the bench API key in the
default space. The same connector, created again in a space of its own (``bench-free``,
no limits at all), is the "none" side: the same key, body and upstream, only the path's
``/s/bench-free`` prefix differs, and the request path there returns at the first look-up
as in a relay without limits. Both stay in place for the whole scenario, as limits do in
production: nothing is created or deleted between runs, so no run pays a reload or the
first take of its shares.

On this 2-core machine one run's throughput moves by ~10% from one second to the next
(an A/A series of 1 s runs: pair ratios 0.75-1.12), twice the 5% to be shown. So the
scenario runs many short pairs, limits and none back to back in alternating order, and
reports the median of the per-pair ratios with the pairs themselves. The limits' current
use is read back at the end: proof that the measured requests went through them (issue
16: within 5% of no limits).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from bench import homes, targets
from bench.load import median

if TYPE_CHECKING:
    from bench.load import Request
    from bench.procs import Proc
    from bench.run import Bench

HUGE = 10**12


FREE_SPACE = "bench-free"


def _limits(key: str) -> list[dict[str, object]]:
    key_id = base64.b64decode(key).decode().split(":", 1)[0]
    scopes = [{"connector": "fast"}, {"user": "bench"}, {"api_key": key_id}]
    return [
        {"name": f"bench {i}", "scope": scope, "requests_per_minute": HUGE, "tokens_per_day": HUGE}
        for i, scope in enumerate(scopes)
    ]


def _post(proc: Proc, path: str, body: object) -> bytes:
    status, data = homes._call(proc.port, "POST", path, body)
    if status != 200:
        raise SystemExit(f"bench: POST {path} answered {status}: {data[:300]!r}")
    return data


def _counted(proc: Proc) -> list[int]:
    status, data = homes._call(proc.port, "GET", "/api/llmrelay/limits")
    if status != 200:
        raise SystemExit(f"bench: listing limits answered {status}: {data[:300]!r}")
    return [int(v["current"]["tokens_today"]) for v in orjson.loads(data)["data"]]


def rounds(bench: Bench) -> int:
    """Pairs per door: the median of ~16 pairs of 1 s runs holds within about ±2.5%."""
    return max(16, 3 * bench.plan.baseline_rounds + 1)


def limits_scenario(bench: Bench) -> dict[str, Any]:
    home = bench.home_limits  # a copy of the harness's home made before anything ran
    proc = targets.relay_proc(home, bench.logs, name="relay-limits")
    bench.start(proc, bench.req("relay_v1", "fast", proc))
    samples: dict[str, list[dict[str, float]]] = defaultdict(list)
    seconds = bench.plan.seconds / 2
    try:
        connector = targets.connectors(bench.mock.port)["fast"]
        _post(proc, f"/s/{FREE_SPACE}/api/actions/connector/fast", connector)
        for body in _limits(home.key):
            _post(proc, "/api/llmrelay/limits", body)
        doors: dict[str, dict[str, Request]] = {}
        for path, target in (("v1", "relay_v1"), ("execute", "relay_execute")):
            limited = bench.req(target, "fast", proc)
            free = replace(limited, path=f"/s/{FREE_SPACE}{limited.path}")
            doors[path] = {"limits": limited, "none": free}
            for phase, request in doors[path].items():  # warm-up: shares taken, paths hot
                bench.wrk(f"lim-warm-{path}-{phase}", request, proc, 16, 1.0)
        for r in range(rounds(bench)):
            for path, requests in doors.items():
                for phase in ("limits", "none") if r % 2 == 0 else ("none", "limits"):
                    result = bench.wrk(f"lim-{path}-{phase}", requests[phase], proc, 16, seconds)
                    samples[f"{path}_{phase}"].append(result)
        counted = _counted(proc)
    finally:
        bench.stop(proc)
    if not all(counted):
        raise SystemExit(f"bench: the limits counted nothing ({counted}): not measured")
    out: dict[str, Any] = {"tokens_counted_per_limit": counted, "seconds_per_run": seconds}
    for path in doors:
        on, off = samples[f"{path}_limits"], samples[f"{path}_none"]
        ratios = [a["rps"] / b["rps"] for a, b in zip(on, off, strict=True)]
        out[path] = {
            "rps_limits": median([s["rps"] for s in on]),
            "rps_none": median([s["rps"] for s in off]),
            "ratio": median(ratios),
            "round_ratios": [round(x, 3) for x in ratios],
            # the main thread is saturated at c=16: CPU per request moves throughput
            "cpu_ms_per_req_limits": median([s["cpu_ms_per_req"] for s in on]),
            "cpu_ms_per_req_none": median([s["cpu_ms_per_req"] for s in off]),
            "cpu_ratio": median(
                [a["cpu_ms_per_req"] / b["cpu_ms_per_req"] for a, b in zip(on, off, strict=True)]
            ),
            "p99_limits_ms": median([s["p99_ms"] for s in on]),
            "p99_none_ms": median([s["p99_ms"] for s in off]),
            "rounds": len(on),
        }
    return out
