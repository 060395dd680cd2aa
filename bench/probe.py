"""A quick look while optimising (not a benchmark of record): c=16 req/s and CPU per request
of the floor and llmrelay (event log on and off), optionally with a py-spy profile.

``python -m bench.probe [--seconds 3] [--rounds 2] [--profile v1|execute]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.load import median, run_wrk, write_lua
from bench.mock_upstream import raise_fd_limit
from bench.run import QUICK, Bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", choices=("v1", "execute", "off"), default=None)
    args = parser.parse_args()
    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="llmrelay-probe-"))
    bench = Bench(QUICK, work, with_litellm=False)
    try:
        bench.setup()
        bench.warm()
        runs = {
            "floor": (bench.req("floor", "fast"), bench.floor),
            "v1": (bench.req("relay_v1", "fast"), bench.relay),
            "execute": (bench.req("relay_execute", "fast"), bench.relay),
            "v1 log off": (bench.req("relay_v1", "fast", bench.relay_off), bench.relay_off),
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (request, proc) in runs.items():
                samples[name].append(bench.wrk(name, request, proc, args.connections, args.seconds))
        _print_writer(bench)
        floor_rps = median([s["rps"] for s in samples["floor"]])
        for name, rows in samples.items():
            rps = median([s["rps"] for s in rows])
            cpu = median([s["cpu_ms_per_req"] for s in rows])
            p99 = median([s["p99_ms"] for s in rows])
            print(
                f"{name:12} {rps:8.0f} req/s ({rps / floor_rps:4.2f}x floor)"
                f"  cpu {cpu:5.3f} ms/req  p99 {p99:7.2f} ms"
            )
        if args.profile:
            name = {"v1": "v1", "execute": "execute", "off": "v1 log off"}[args.profile]
            request, proc = runs[name]
            out = Path(tempfile.gettempdir()) / "probe-profile.txt"
            spy = subprocess.Popen(  # noqa: S603 - the harness's own command
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(proc.pid),
                    "-d",
                    "6",
                    "-r",
                    "250",
                    "-f",
                    "raw",
                    "--nolineno",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            run_wrk(
                request, write_lua(request, work / "p.lua"), connections=args.connections, seconds=5
            )
            spy.wait(timeout=60)
            print(f"profile: {out}")
    finally:
        bench.stop_all()


def _print_writer(bench: Bench) -> None:
    """The event writer's counters after the runs: did it keep up (nothing spooled)?"""
    request = bench.req("relay_execute", "fast")
    status = urllib.request.Request(
        f"http://127.0.0.1:{bench.relay.port}/api/status",
        headers={k: v for k, v in request.headers.items() if k == "Authorization"},
    )
    with urllib.request.urlopen(status, timeout=10) as answer:  # noqa: S310
        parts = json.loads(answer.read())["status"]["core"]
    print("event writer:", parts["eventWriter"].get("meta"), parts["spool"].get("summary"))


if __name__ == "__main__":
    main()
