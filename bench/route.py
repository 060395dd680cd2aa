"""Scenario 8: what a route connector costs (issue 19). The same request, sequential
(``wrk -c1``), to ``direct``, to each door with the connector, and to each door with a route
whose one healthy target is that connector, in rounds whose order alternates. The figure is
the median over rounds of the route's added p50 over the connector's added p50 (both over
``direct`` in the same round); the goal is at most 1.10.

Runs are short (1 s) and rounds many (at least ``MIN_ROUNDS``): on this 2-core machine the
speed moves by several percent over seconds, more than the 10% to be shown, so each round's
ratio is taken between runs made seconds apart and the median of many holds it. A round's
ratio moves by about ±0.1; with 12 rounds the median itself still moved by ~0.05 from run
to run, half the margin the goal leaves, so there are at least 24.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.load import median

if TYPE_CHECKING:
    from bench.run import Bench

GOAL = 1.10
MIN_ROUNDS = 24
ORDER = ("direct", "relay_v1", "relay_route_v1", "relay_execute", "relay_route_execute")
DOORS = (("v1", "relay_v1", "relay_route_v1"), ("execute", "relay_execute", "relay_route_execute"))


def measure(bench: Bench, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {target: [] for target in ORDER}
    for r in range(rounds):
        for target in ORDER if r % 2 == 0 else tuple(reversed(ORDER)):
            result = bench.wrk(
                f"route-{target}", bench.req(target, "fast"), bench.proc_of(target), 1, 1.0
            )
            samples[target].append(result["p50_ms"])
    direct = samples["direct"]
    out: dict[str, Any] = {"goal_ratio": GOAL, "rounds": rounds}
    for door, plain, routed in DOORS:
        added_plain = [p - d for p, d in zip(samples[plain], direct, strict=True)]
        added_route = [p - d for p, d in zip(samples[routed], direct, strict=True)]
        ratios = [a / b for a, b in zip(added_route, added_plain, strict=True) if b > 0]
        ratio = median(ratios) if ratios else None
        out[door] = {
            "connector_added_p50_ms": median(added_plain),
            "route_added_p50_ms": median(added_route),
            "ratio": ratio,
            "round_ratios": [round(x, 3) for x in ratios],
            "rounds": len(ratios),
            "within_goal": ratio is not None and ratio <= GOAL,
        }
        shown = f"{ratio:.3f}" if ratio is not None else "n/a"
        print(
            f"  {door}: connector +{median(added_plain):.3f} ms, "
            f"route +{median(added_route):.3f} ms, ratio {shown} (goal <= {GOAL})"
        )
    return out
