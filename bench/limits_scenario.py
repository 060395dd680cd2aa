"""Scenario 9: three limits active (connector, user, API key) vs none, c=16, one worker.

Two twin relays are started for it from copies of the same home, made before either ran:
one gets three limits through the HTTP API (figures far above what a run can reach, so
nothing is refused and every request passes admission and accounting), the other none.
Twins, not the harness's long-running relay: a process that has served every earlier
scenario (a larger event log, older caches) measured 0.82-0.91 against a fresh one even
where the same A/B inside one process gave 0.97. Both are warmed alike; both doors, rounds
interleaved as in scenario 5. The limits' ``current`` use is read back at the end: proof
that the measured requests went through the limits (issue 16: within 5% of no limits).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import orjson

from bench import homes, targets
from bench.load import median

if TYPE_CHECKING:
    from bench.procs import Proc
    from bench.run import Bench

HUGE = 10**12


def _limits(key: str) -> list[dict[str, object]]:
    key_id = base64.b64decode(key).decode().split(":", 1)[0]
    scopes = [{"connector": "fast"}, {"user": "bench"}, {"api_key": key_id}]
    return [
        {"name": f"bench {i}", "scope": scope, "requests_per_minute": HUGE, "tokens_per_day": HUGE}
        for i, scope in enumerate(scopes)
    ]


def _add_limits(proc: Proc, key: str) -> None:
    for body in _limits(key):
        status, data = homes._call(proc.port, "POST", "/api/llmrelay/limits", body)
        if status != 200:
            raise SystemExit(f"bench: creating a limit answered {status}: {data[:300]!r}")


def _counted(proc: Proc) -> list[int]:
    status, data = homes._call(proc.port, "GET", "/api/llmrelay/limits")
    if status != 200:
        raise SystemExit(f"bench: listing limits answered {status}: {data[:300]!r}")
    return [int(v["current"]["tokens_today"]) for v in orjson.loads(data)["data"]]


def rounds(bench: Bench) -> int:
    """Rounds of the four runs: an A/A run (no limits on either twin) spread 0.92-1.07 over
    the plan's two quick rounds, wider than the 5% to be shown; the median of six or more
    paired ratios holds it."""
    return max(6, bench.plan.baseline_rounds + 1)


def limits_scenario(bench: Bench) -> dict[str, Any]:
    home = bench.home_limits  # a copy of the harness's home made before anything ran
    twin_home = home.copy(bench.work / "home-limits-none")
    proc = targets.relay_proc(home, bench.logs, name="relay-limits")
    twin = targets.relay_proc(twin_home, bench.logs, name="relay-limits-none")
    bench.start(proc, bench.req("relay_v1", "fast", proc))
    bench.start(twin, bench.req("relay_v1", "fast", twin))
    try:
        _add_limits(proc, home.key)
        for runner in (proc, twin):  # warmed alike before the first measured round
            for target in ("relay_v1", "relay_execute"):
                request = bench.req(target, "fast", runner)
                bench.wrk(f"lim-warm-{target}", request, runner, 16, 1.0)
        samples: dict[str, list[dict[str, float]]] = defaultdict(list)
        pairs = [
            ("v1_limits", "relay_v1", proc),
            ("v1_none", "relay_v1", twin),
            ("execute_limits", "relay_execute", proc),
            ("execute_none", "relay_execute", twin),
        ]
        for r in range(rounds(bench)):
            for name, target, runner in pairs if r % 2 == 0 else list(reversed(pairs)):
                result = bench.wrk(
                    f"lim-{name}", bench.req(target, "fast", runner), runner, 16, bench.plan.seconds
                )
                samples[name].append(result)
        counted = _counted(proc)
    finally:
        bench.stop(proc)
        bench.stop(twin)
    out: dict[str, Any] = {"tokens_counted_per_limit": counted}
    for path in ("v1", "execute"):
        on, off = samples[f"{path}_limits"], samples[f"{path}_none"]
        out[path] = {
            "rps_limits": median([s["rps"] for s in on]),
            "rps_none": median([s["rps"] for s in off]),
            "ratio": median([a["rps"] / b["rps"] for a, b in zip(on, off, strict=True)]),
            # the main thread is saturated at c=16: CPU per request moves throughput, and
            # varies far less from round to round than req/s on a shared machine
            "cpu_ms_per_req_limits": median([s["cpu_ms_per_req"] for s in on]),
            "cpu_ms_per_req_none": median([s["cpu_ms_per_req"] for s in off]),
            "cpu_ratio": median(
                [a["cpu_ms_per_req"] / b["cpu_ms_per_req"] for a, b in zip(on, off, strict=True)]
            ),
            "p99_limits_ms": median([s["p99_ms"] for s in on]),
            "p99_none_ms": median([s["p99_ms"] for s in off]),
            "rounds": len(on),
        }
    if not all(counted):
        raise SystemExit(f"bench: the limits counted nothing ({counted}): not measured")
    return out
