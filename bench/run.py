"""The benchmark harness (``make bench``; never part of ``make test``).

One machine, every process on 127.0.0.1, every figure a ratio against baselines measured in
the same run, targets interleaved round by round (the order alternates each round), median
of rounds and p99 within a round; after each run the harness waits until that target is
idle again, so its leftover work does not fall into the next target's run. Scenarios:

1. sequential non-stream latency (``wrk -c1``): added p50/p99 over ``direct``; 1b. the
   same for ``/v1/embeddings`` (bench/embeddings.py), against the same mock and floor;
2. concurrency 1/4/16/64: added p99, requests/s (and as a share of the floor's), CPU per
   request of the gateway process (``/proc/<pid>/stat`` utime+stime deltas);
3. streams: added time to first byte, events in = events out, added inter-event gap;
4. 1,000 concurrent slow streams on a fresh process: RSS per open stream (and idle RSS);
5. event log on vs off (same code, the sink switched off): throughput ratio;
6. the usage dashboard over N million events (bench/dashboard.py);
7. cold start: process start to first answered chat completion;
8. a route connector with one healthy target vs the same connector (bench/route.py);
9. three limits active (connector, user, API key) vs none at c=16 (bench/limits_scenario.py);

plus a py-spy profile of the llmrelay process under load. Results go to
``bench/results/<timestamp>.json``; ``python -m bench.report`` turns the newest into
``docs/performance.md``. ``--quick`` is a shorter run for iterating.

``--baseline REF`` (``make bench QUICK=1 BASELINE=origin/main``) also runs REF's llmrelay
(bench/baseline.py) as ``base_execute`` and ``base_v1``, interleaved with the checkout's
two doors in scenarios 1-3 and 5 (at least ``baseline_rounds`` rounds at c=1 and c=16),
and the report sets current against baseline figure by figure (bench/compare.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import baseline, compare, dashboard, embeddings, route, targets
from bench.limits_scenario import limits_scenario
from bench.load import (
    Request,
    many_open_streams,
    median,
    pct,
    run_wrk,
    stream_batch,
    write_lua,
)
from bench.mock_upstream import raise_fd_limit
from bench.procs import Proc, wait_answered, wait_idle

ROOT = targets.ROOT
RESULTS = ROOT / "bench" / "results"
THROUGHPUT_TARGETS = ("direct", "floor", "relay_execute", "relay_v1", "litellm")
#: with a baseline: each of its doors right after the checkout's, for the tightest pairing
WITH_BASELINE = (
    "direct",
    "floor",
    "relay_execute",
    "base_execute",
    "relay_v1",
    "base_v1",
    "litellm",
)


@dataclass(frozen=True)
class Plan:
    seconds: float  # one wrk run
    rounds_c1: int
    rounds_conc: int
    levels: tuple[int, ...]
    stream_rounds: int
    streams_per_round: int
    open_streams: int
    open_deadline: float
    eventlog_rounds: int
    dashboard_events: int
    dashboard_repeats: int
    cold_starts: int
    cold_starts_litellm: int
    profile_seconds: float
    baseline_rounds: int  # at least this many rounds at c=1 and c=16 with --baseline


FULL = Plan(3.0, 5, 3, (1, 4, 16, 64), 5, 30, 1000, 20.0, 5, 10_000_000, 30, 5, 3, 10.0, 7)
QUICK = Plan(2.0, 2, 1, (1, 4, 16, 64), 2, 10, 1000, 10.0, 2, 1_000_000, 10, 2, 1, 5.0, 5)
BASELINE_LEVELS = (1, 16)


class Machine:
    """Busy CPU of the whole machine vs. what this run's processes used (noise meter)."""

    def __init__(self, procs: Callable[[], Sequence[Proc]]) -> None:
        self.procs = procs

    @staticmethod
    def _busy() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _own(self) -> float:
        t = os.times()
        return (
            t.user
            + t.system
            + t.children_user
            + t.children_system
            + sum(p.cpu() for p in self.procs() if p.alive())
        )

    def snapshot(self) -> tuple[float, float, float]:
        return time.perf_counter(), self._busy(), self._own()

    @staticmethod
    def foreign(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
        """Cores used by processes outside this run between two snapshots."""
        wall = b[0] - a[0]
        return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / wall) if wall > 0 else 0.0


class Bench:
    def __init__(
        self, plan: Plan, work: Path, with_litellm: bool, base: baseline.Code | None = None
    ) -> None:
        self.plan = plan
        self.base_code = base
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.with_litellm = with_litellm
        self.running: list[Proc] = []
        self.machine = Machine(lambda: self.running)
        self.foreign: dict[str, list[float]] = defaultdict(list)

    # --- processes -----------------------------------------------------------------
    def start(self, proc: Proc, probe: Request) -> float:
        proc.start()
        self.running.append(proc)
        try:
            return wait_answered(proc, probe.path, probe.body, probe.headers, ok=probe.ok.encode())
        except RuntimeError as exc:
            tail = proc.log.read_text(errors="replace")[-1500:] if proc.log else ""
            raise RuntimeError(f"{exc}\n--- end of {proc.log}:\n{tail}") from None

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)

    def setup(self) -> None:
        self.mock = targets.mock_proc(self.logs)
        self.start(self.mock, targets.request_for("direct", self.mock.port, "fast"))
        code = baseline.current()
        self.home_on = targets.prepare_relay_home(
            code, self.work / "home-on", self.mock.port, self.logs
        )
        self.home_off = self.home_on.copy(self.work / "home-off")
        self.home_fresh = self.home_on.copy(self.work / "home-fresh")
        self.home_limits = self.home_on.copy(self.work / "home-limits")
        self.home_async = self.home_on.copy(self.work / "home-async")
        self.floor = targets.floor_proc(self.mock.port, self.logs)
        self.relay = targets.relay_proc(self.home_on, self.logs, name="relay")
        self.relay_off = targets.relay_proc(
            self.home_off, self.logs, event_log=False, name="relay-eventlog-off"
        )
        self.start(self.floor, targets.request_for("floor", self.floor.port, "fast"))
        self.start(self.relay, self.req("relay_v1", "fast", self.relay))
        self.start(self.relay_off, self.req("relay_v1", "fast", self.relay_off))
        self.relay_async = targets.relay_proc(
            self.home_async, self.logs, name="relay-durability-async", durability="async"
        )
        self.start(self.relay_async, self.req("relay_v1", "fast", self.relay_async))
        self.base: Proc | None = None
        self.base_off: Proc | None = None
        if self.base_code is not None:
            self.base_home = targets.prepare_relay_home(
                self.base_code, self.work / "base-home-on", self.mock.port, self.logs
            )
            base_off_home = self.base_home.copy(self.work / "base-home-off")
            self.base = targets.relay_proc(self.base_home, self.logs, name="base")
            self.base_off = targets.relay_proc(
                base_off_home, self.logs, event_log=False, name="base-eventlog-off"
            )
            self.start(self.base, self.req("base_v1", "fast", self.base))
            self.start(self.base_off, self.req("base_v1", "fast", self.base_off))
        self.litellm: Proc | None = None
        if self.with_litellm:
            self.litellm = targets.litellm_proc(self.mock.port, self.work, self.logs)
            self.start(self.litellm, targets.request_for("litellm", self.litellm.port, "fast"))

    def proc_of(self, target: str) -> Proc:
        return {
            "direct": self.mock,
            "floor": self.floor,
            "relay_execute": self.relay,
            "relay_v1": self.relay,
            "relay_route_execute": self.relay,
            "relay_route_v1": self.relay,
            "base_execute": self.base,
            "base_v1": self.base,
            "litellm": self.litellm,
        }[target]  # type: ignore[return-value]

    def req(self, target: str, kind: str, proc: Proc | None = None) -> Request:
        proc = proc or self.proc_of(target)
        # every home of one code is a copy of its first: one key per code
        key = self.base_home.key if target.startswith("base_") else self.home_on.key
        return targets.request_for(target, proc.port, kind, key)

    def targets(self) -> list[str]:
        names = THROUGHPUT_TARGETS if self.base is None else WITH_BASELINE
        return [t for t in names if t != "litellm" or self.litellm is not None]

    # --- one measured wrk run --------------------------------------------------------
    def wrk(
        self, name: str, request: Request, proc: Proc, connections: int, seconds: float
    ) -> dict[str, float]:
        lua = write_lua(request, self.work / f"{name}.lua")
        proc.refresh()
        self.mock.refresh()
        before_cpu, before_mock = proc.cpu(), self.mock.cpu()
        snap = self.machine.snapshot()
        result = run_wrk(request, lua, connections=connections, seconds=seconds)
        after = self.machine.snapshot()
        n = max(1, result["requests"])
        result["cpu_ms_per_req"] = (proc.cpu() - before_cpu) * 1000 / n
        result["mock_cpu_ms_per_req"] = (self.mock.cpu() - before_mock) * 1000 / n
        result["foreign_cores"] = Machine.foreign(snap, after)
        result["settle_s"] = wait_idle(proc)
        if result["errors"] or result["bad"]:
            print(f"  ! {name}: {result['errors']} errors, {result['bad']} bad answers")
        return result

    def warm(self) -> None:
        for target in self.targets():
            self.wrk(f"warm-{target}", self.req(target, "fast"), self.proc_of(target), 8, 1.0)
        self.wrk("warm-off", self.req("relay_v1", "fast", self.relay_off), self.relay_off, 8, 1.0)
        request = self.req("relay_v1", "fast", self.relay_async)
        self.wrk("warm-async", request, self.relay_async, 8, 1.0)
        if self.base_off is not None:
            request = self.req("base_v1", "fast", self.base_off)
            self.wrk("warm-base-off", request, self.base_off, 8, 1.0)

    # --- scenarios 1 and 2 -----------------------------------------------------------
    def throughput(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for level in self.plan.levels:
            rounds = self.plan.rounds_c1 if level == 1 else self.plan.rounds_conc
            if self.base is not None and level in BASELINE_LEVELS:
                rounds = max(rounds, self.plan.baseline_rounds)
            samples: dict[str, list[dict[str, float]]] = defaultdict(list)
            order = self.targets()
            for r in range(rounds):
                for target in order if r % 2 == 0 else list(reversed(order)):
                    result = self.wrk(
                        f"c{level}-{target}",
                        self.req(target, "fast"),
                        self.proc_of(target),
                        level,
                        self.plan.seconds,
                    )
                    samples[target].append(result)
                    self.foreign["throughput"].append(result["foreign_cores"])
            out[f"c{level}"] = summarise_rounds(samples, rounds)
            print(
                f"  c={level}: "
                + ", ".join(
                    f"{t} {v['rps']:.0f}/s p50 {v['p50_ms']:.2f}ms"
                    for t, v in out[f"c{level}"].items()
                )
            )
        return out

    # --- scenario 1b -----------------------------------------------------------------
    def embeddings(self) -> dict[str, Any]:
        """Sequential ``/v1/embeddings`` (c=1), rounds interleaved as for chat."""
        samples: dict[str, list[dict[str, float]]] = defaultdict(list)
        order = list(embeddings.TARGETS)
        for r in range(self.plan.rounds_c1):
            for target in order if r % 2 == 0 else list(reversed(order)):
                proc = self.proc_of(target)
                request = embeddings.request_for(target, proc.port, self.home_on.key)
                result = self.wrk(f"emb-{target}", request, proc, 1, self.plan.seconds)
                samples[target].append(result)
        out = summarise_rounds(samples, self.plan.rounds_c1)
        print(
            "  embeddings c=1: "
            + ", ".join(
                f"{t} p50 {v['p50_ms']:.2f}ms (+{v['added_p50_ms']:.3f})" for t, v in out.items()
            )
        )
        return out

    # --- scenario 3 ------------------------------------------------------------------
    def streams(self) -> dict[str, Any]:
        expected = targets.GAP_EVENTS + 2  # deltas, the usage event, [DONE]
        samples: dict[str, list[Any]] = defaultdict(list)
        order = self.targets()
        for r in range(self.plan.stream_rounds):
            for target in order if r % 2 == 0 else list(reversed(order)):
                batch = asyncio.run(
                    stream_batch(self.req(target, "gap"), self.plan.streams_per_round)
                )
                samples[target].append(batch)
        direct_body = samples["direct"][0][0].body
        out: dict[str, Any] = {"expected_events": expected, "gap_ms": targets.GAP_MS}
        first_direct = [median([s.first_byte_ms for s in b]) for b in samples["direct"]]
        gap_direct = [median([g for s in b for g in s.gaps_ms]) for b in samples["direct"]]
        for target, batches in samples.items():
            firsts = [s.first_byte_ms for b in batches for s in b]
            gaps = [g for b in batches for s in b for g in s.gaps_ms]
            round_first = [median([s.first_byte_ms for s in b]) for b in batches]
            round_gap = [median([g for s in b for g in s.gaps_ms]) for b in batches]
            round_gap99 = [pct([g for s in b for g in s.gaps_ms], 99) for b in batches]
            direct_gap99 = [pct([g for s in b for g in s.gaps_ms], 99) for b in samples["direct"]]
            counts = Counter(s.events for b in batches for s in b)
            out[target] = {
                "first_byte_p50_ms": pct(firsts, 50),
                "first_byte_p99_ms": pct(firsts, 99),
                "added_first_byte_p50_ms": median(
                    [a - b for a, b in zip(round_first, first_direct, strict=True)]
                ),
                "gap_p50_ms": pct(gaps, 50),
                "gap_p99_ms": pct(gaps, 99),
                "added_gap_p50_ms": median(
                    [a - b for a, b in zip(round_gap, gap_direct, strict=True)]
                ),
                "added_gap_p99_ms": median(
                    [a - b for a, b in zip(round_gap99, direct_gap99, strict=True)]
                ),
                "events_out": dict(counts),
                "chunk_for_chunk": set(counts) == {expected},
                "bytes_identical_to_direct": sum(s.body == direct_body for b in batches for s in b)
                / sum(len(b) for b in batches),
                "streams": sum(len(b) for b in batches),
            }
        return out

    # --- scenario 5 ------------------------------------------------------------------
    def event_log(self) -> dict[str, Any]:
        samples: dict[str, list[dict[str, float]]] = defaultdict(list)
        pairs = [
            ("v1_on", "relay_v1", self.relay),
            ("v1_off", "relay_v1", self.relay_off),
            ("execute_on", "relay_execute", self.relay),
            ("execute_off", "relay_execute", self.relay_off),
        ]
        if self.base is not None and self.base_off is not None:
            # each of the baseline's runs right after the checkout's: paired within a round
            base = {"relay_v1": "base_v1", "relay_execute": "base_execute"}
            pairs = [
                run
                for name, target, proc in pairs
                for run in (
                    (name, target, proc),
                    (
                        f"base_{name}",
                        base[target],
                        self.base if proc is self.relay else self.base_off,
                    ),
                )
            ]
        for r in range(self.plan.eventlog_rounds):
            for name, target, proc in pairs if r % 2 == 0 else list(reversed(pairs)):
                result = self.wrk(
                    f"ev-{name}", self.req(target, "fast", proc), proc, 16, self.plan.seconds
                )
                samples[name].append(result)
        out: dict[str, Any] = {}
        paths = ["v1", "execute"] + (["base_v1", "base_execute"] if self.base else [])
        for path in paths:
            on, off = samples[f"{path}_on"], samples[f"{path}_off"]
            out[path] = {
                "rps_on": median([s["rps"] for s in on]),
                "rps_off": median([s["rps"] for s in off]),
                "ratio_on_off": median([a["rps"] / b["rps"] for a, b in zip(on, off, strict=True)]),
                "p99_on_ms": median([s["p99_ms"] for s in on]),
                "p99_off_ms": median([s["p99_ms"] for s in off]),
                "cpu_ms_per_req_on": median([s["cpu_ms_per_req"] for s in on]),
                "cpu_ms_per_req_off": median([s["cpu_ms_per_req"] for s in off]),
                "rps_on_rounds": [s["rps"] for s in on],
                "rounds": len(on),
            }
        return out

    # --- scenario 5b -----------------------------------------------------------------
    def durability(self) -> dict[str, Any]:
        """The event journal's cost (issue 17): ``llmrelay.eventLog.durability: answer``
        (the default, ``self.relay``) against ``async``, run back to back in each round:
        sequential p50/p99 (the journal's added latency is their paired difference) and
        requests/s at c=16."""
        samples: dict[tuple[str, int], list[dict[str, float]]] = defaultdict(list)
        runs = [
            (path, mode, proc)
            for path in ("v1", "execute")
            for mode, proc in (("answer", self.relay), ("async", self.relay_async))
        ]
        # two processes compared (the setting is per process): on this 2-core machine one
        # round's ratio spreads by several percent, so at least five rounds
        for r in range(max(self.plan.eventlog_rounds, 5)):
            for level in (1, 16):
                for path, mode, proc in runs if r % 2 == 0 else list(reversed(runs)):
                    request = self.req(f"relay_{path}", "fast", proc)
                    result = self.wrk(
                        f"dur-{path}-{mode}-c{level}", request, proc, level, self.plan.seconds
                    )
                    samples[(f"{path}_{mode}", level)].append(result)
        out: dict[str, Any] = {}
        for path in ("v1", "execute"):
            answer1, async1 = samples[(f"{path}_answer", 1)], samples[(f"{path}_async", 1)]
            answer16, async16 = samples[(f"{path}_answer", 16)], samples[(f"{path}_async", 16)]
            paired = list(zip(answer1, async1, strict=True))
            out[path] = {
                "p50_answer_ms": median([s["p50_ms"] for s in answer1]),
                "p50_async_ms": median([s["p50_ms"] for s in async1]),
                "p99_answer_ms": median([s["p99_ms"] for s in answer1]),
                "p99_async_ms": median([s["p99_ms"] for s in async1]),
                "journal_added_p50_ms": median([a["p50_ms"] - b["p50_ms"] for a, b in paired]),
                "journal_added_p99_ms": median([a["p99_ms"] - b["p99_ms"] for a, b in paired]),
                "rps_c16_answer": median([s["rps"] for s in answer16]),
                "rps_c16_async": median([s["rps"] for s in async16]),
                "ratio_c16_answer_async": median(
                    [a["rps"] / b["rps"] for a, b in zip(answer16, async16, strict=True)]
                ),
                "rounds": len(answer1),
            }
        return out

    # --- profile ---------------------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        py_spy = Path(sys.executable).parent / "py-spy"
        if not py_spy.exists():
            return {"skipped": "py-spy not installed (pip install -e '.[bench]')"}
        out: dict[str, Any] = {}
        # the third one has the event log switched off: what is left is the request path
        runs = [
            ("relay_v1", self.relay),
            ("relay_execute", self.relay),
            ("relay_v1_eventlog_off", self.relay_off),
            ("relay_route_v1", self.relay),  # a route in front of the same connector
            ("relay_route_execute", self.relay),
        ]
        for name, proc in runs:
            target = name.removesuffix("_eventlog_off")
            raw = self.work / f"profile-{name}.txt"
            request = self.req(target, "fast", proc)
            spy = subprocess.Popen(  # noqa: S603 - the harness's own command
                [
                    str(py_spy),
                    "record",
                    "-p",
                    str(proc.pid),
                    "-d",
                    str(int(self.plan.profile_seconds)),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "--nolineno",
                    "-o",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(self.logs / f"py-spy-{name}.log", "wb"),  # noqa: SIM115
            )
            time.sleep(0.5)
            lua = write_lua(request, self.work / f"profile-{name}.lua")
            before = thread_cpu(proc.pid)
            load = run_wrk(request, lua, connections=16, seconds=self.plan.profile_seconds - 1)
            after = thread_cpu(proc.pid)
            spy.wait(timeout=60)
            out[name] = summarise_profile(raw) if raw.exists() else {"error": "no output"}
            out[name]["thread_cpu_ms_per_req"] = {
                f"{comm} {tid}": round(
                    (cpu - before.get(tid, (comm, 0.0))[1]) * 1000 / max(1, load["requests"]), 3
                )
                for tid, (comm, cpu) in after.items()
                if cpu - before.get(tid, (comm, 0.0))[1] > 0
            }
            keep = RESULTS / "profiles"
            keep.mkdir(parents=True, exist_ok=True)
            if raw.exists():
                shutil.copy(raw, keep / f"{name}.collapsed.txt")
        return out

    # --- scenario 4 (fresh processes) ---------------------------------------------------
    def open_streams(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        subjects: list[tuple[str, str, Callable[[], Proc]]] = [
            ("floor", "floor", lambda: targets.floor_proc(self.mock.port, self.logs)),
            (
                "relay_v1",
                "relay_v1",
                lambda: targets.relay_proc(self.home_fresh, self.logs, name="relay-fresh"),
            ),
            (
                "relay_execute",
                "relay_execute",
                lambda: targets.relay_proc(self.home_fresh, self.logs, name="relay-fresh"),
            ),
        ]
        if self.with_litellm:
            subjects.append(
                (
                    "litellm",
                    "litellm",
                    lambda: targets.litellm_proc(self.mock.port, self.work, self.logs),
                )
            )
        for name, target, make in subjects:
            proc = make()
            key = self.home_fresh.key
            probe = targets.request_for(target, proc.port, "fast", key)
            self.start(proc, probe)
            warm_lua = write_lua(probe, self.work / f"warm-open-{name}.lua")
            run_wrk(probe, warm_lua, connections=4, seconds=1.0)
            asyncio.run(stream_batch(targets.request_for(target, proc.port, "gap", key), 5))
            time.sleep(1.0)
            idle = proc.rss()
            slow = targets.request_for(target, proc.port, "slow", key)
            result = asyncio.run(
                many_open_streams(
                    slow,
                    self.plan.open_streams,
                    settle=1.0,
                    deadline=self.plan.open_deadline,
                    measure=proc.rss,
                )
            )
            loaded = int(result.pop("measured"))
            out[name] = {
                "idle_rss_mb": idle / 2**20,
                "rss_with_streams_mb": loaded / 2**20,
                "kb_per_stream": (loaded - idle) / self.plan.open_streams / 1024,
                **result,
            }
            print(
                f"  {name}: idle {idle / 2**20:.0f} MB, "
                f"{out[name]['kb_per_stream']:.1f} KB/stream, "
                f"{result['opened']} of {self.plan.open_streams} got their first event"
            )
            self.stop(proc)
        return out

    # --- scenario 7 ------------------------------------------------------------------
    def cold_start(self) -> dict[str, Any]:
        llmrelay = Path(sys.executable).parent / "llmrelay"
        times: dict[str, list[float]] = defaultdict(list)
        rss: dict[str, list[float]] = defaultdict(list)

        def relay_cold() -> Proc:
            proc = targets.relay_proc(self.home_fresh, self.logs, name="relay-cold")
            proc.cmd = [str(llmrelay), "serve", "--port", str(proc.port)]  # the real command
            return proc

        makers: list[tuple[str, Callable[[], Proc], int]] = [
            ("floor", lambda: targets.floor_proc(self.mock.port, self.logs), self.plan.cold_starts),
            ("relay", relay_cold, self.plan.cold_starts),
        ]
        if self.with_litellm:
            makers.append(
                (
                    "litellm",
                    lambda: targets.litellm_proc(self.mock.port, self.work, self.logs),
                    self.plan.cold_starts_litellm,
                )
            )
        for r in range(self.plan.cold_starts):
            for name, make, count in makers:
                if r >= count:
                    continue
                proc = make()
                target = "relay_v1" if name == "relay" else name
                probe = targets.request_for(target, proc.port, "fast", self.home_fresh.key)
                times[name].append(self.start(proc, probe))
                time.sleep(0.5)
                rss[name].append(proc.rss() / 2**20)
                self.stop(proc)
        return {
            name: {
                "ready_s_median": median(values),
                "ready_s_max": max(values),
                "runs": len(values),
                "rss_after_first_answer_mb": median(rss[name]),
            }
            for name, values in times.items()
        }


def summarise_rounds(samples: dict[str, list[dict[str, float]]], rounds: int) -> dict[str, Any]:
    """Per target: medians over rounds, and ratios to ``direct``/``floor`` of the same round;
    ``per_round`` keeps each round's figures for the baseline's ratios (bench/compare.py)."""
    out: dict[str, Any] = {}
    direct, floor = samples["direct"], samples["floor"]
    for target, runs in samples.items():
        per_round = {
            "rps": [s["rps"] for s in runs],
            "added_p50_ms": [s["p50_ms"] - d["p50_ms"] for s, d in zip(runs, direct, strict=True)],
            "added_p99_ms": [s["p99_ms"] - d["p99_ms"] for s, d in zip(runs, direct, strict=True)],
            "cpu_ms_per_req": [s["cpu_ms_per_req"] for s in runs],
        }
        out[target] = {
            "rps": median(per_round["rps"]),
            "p50_ms": median([s["p50_ms"] for s in runs]),
            "p99_ms": median([s["p99_ms"] for s in runs]),
            "added_p50_ms": median(per_round["added_p50_ms"]),
            "added_p99_ms": median(per_round["added_p99_ms"]),
            "rps_vs_floor": median([s["rps"] / f["rps"] for s, f in zip(runs, floor, strict=True)]),
            "cpu_ms_per_req": median(per_round["cpu_ms_per_req"]),
            "mock_cpu_ms_per_req": median([s["mock_cpu_ms_per_req"] for s in runs]),
            "errors": sum(s["errors"] + s["bad"] for s in runs),
            "requests": sum(s["requests"] for s in runs),
            "foreign_cores": median([s["foreign_cores"] for s in runs]),
            "rounds": rounds,
            "per_round": per_round,
        }
    return out


def thread_cpu(pid: int) -> dict[str, tuple[str, float]]:
    """utime+stime of every thread of ``pid`` (tid -> (name, seconds))."""
    out: dict[str, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        out[task.name] = (comm, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out


def summarise_profile(raw: Path, top: int = 20) -> dict[str, Any]:
    """Self and inclusive sample shares per frame, and self time per library, for the
    event-loop thread only: the store's worker thread (aiosqlite) spends its life blocked
    on its queue and used no measurable CPU (see ``thread_cpu_ms_per_req``)."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames or frames[0].startswith(
            ("Thread._bootstrap ", "_bootstrap ")
        ):  # a worker thread
            continue
        total += count
        self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        by_package[_package(frames[-1])] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    ours = Counter({k: v for k, v in inclusive.items() if "llmrelay/" in k})
    return {
        "samples": total,
        "self_pct": share(self_time),
        "inclusive_llmrelay_pct": share(ours),
        "self_by_package_pct": share(by_package),
    }


def _package(frame: str) -> str:
    """``fn (path/to/pkg/module.py)`` -> the top package after site-packages or src."""
    inside = frame.rpartition("(")[2].rstrip(")")
    for marker in ("site-packages/", "/src/", "python3.11/"):
        if marker in inside:
            rest = inside.split(marker, 1)[1]
            head = rest.split("/", 1)[0]
            return head.removesuffix(".py") if marker != "python3.11/" else f"stdlib:{head}"
    return inside or frame


def meta(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    def version(module: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(module)
        except Exception:
            return None

    litellm_version = None
    if targets.litellm_available():
        out = subprocess.run(  # noqa: S603 - the harness's own venv
            [
                str(targets.LITELLM_VENV / "bin" / "python"),
                "-c",
                "from importlib.metadata import version; print(version('litellm'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        litellm_version = out.stdout.strip() or None
    git = subprocess.run(  # noqa: S603 - a fixed, read-only git command
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],  # noqa: S607 - read-only
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import llmrelay

    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "plan": plan.__dict__,
        "git_head": git,
        "llmrelay_source": str(Path(llmrelay.__file__).parent),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu,
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        },
        "python": platform.python_version(),
        "versions": {
            m: version(m)
            for m in (
                "uvicorn",
                "starlette",
                "aiohttp",
                "uvloop",
                "httptools",
                "sqlalchemy",
                "aiosqlite",
            )
        },
        "litellm": litellm_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter run (1M dashboard events)")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM even if installed")
    parser.add_argument(
        "--only",
        default="",
        help="comma list: throughput,embeddings,streams,eventlog,durability,limits,profile,"
        "open,dashboard,cold,route",
    )
    parser.add_argument("--dashboard-events", type=int, default=0)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--durability",
        choices=("answer", "async"),
        default=None,
        help="this checkout's llmrelay.eventLog.durability in every scenario (default: its "
        "own default); the baseline keeps its own",
    )
    parser.add_argument(
        "--baseline",
        default="",
        metavar="REF",
        help="also run this commit's llmrelay (e.g. origin/main) and compare figure by figure",
    )
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        default=0,
        metavar="N",
        help="rounds at c=1 and c=16 with --baseline (default: the plan's baseline_rounds)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.dashboard_events:
        plan = Plan(**{**plan.__dict__, "dashboard_events": args.dashboard_events})
    if args.baseline_rounds:
        plan = Plan(**{**plan.__dict__, "baseline_rounds": args.baseline_rounds})
    only = {x for x in args.only.split(",") if x}
    targets.CHECKOUT_DURABILITY = args.durability
    raise_fd_limit()
    with_litellm = targets.litellm_available() and not args.no_litellm
    if not with_litellm:
        print("LiteLLM is not installed in bench/.venv-litellm: its columns are skipped")
    base = baseline.checkout(args.baseline) if args.baseline else None
    started = time.perf_counter()
    result: dict[str, Any] = {"meta": meta(args, plan), "scenarios": {}}
    if base is not None:
        result["meta"]["baseline"] = {
            "ref": base.ref,
            "sha": base.sha,
            "llmrelay_source": str(base.package_dir()),
            "imported_from": baseline.imported_from(base),
            "rounds_at": list(BASELINE_LEVELS),
        }
        print(f"baseline: {base.ref} = {base.sha[:12]}, llmrelay from {base.package_dir()}")
    scen = result["scenarios"]
    work = Path(tempfile.mkdtemp(prefix="llmrelay-bench-"))
    bench = Bench(plan, work, with_litellm, base)

    def want(name: str) -> bool:
        return not only or name in only

    try:
        print(f"setting up in {work}")
        bench.setup()
        bench.warm()
        if want("throughput"):
            print("scenarios 1-2: request/response latency and throughput")
            scen["throughput"] = bench.throughput()
        if want("embeddings"):
            print("scenario 1b: /v1/embeddings, sequential")
            scen["embeddings"] = bench.embeddings()
        if want("eventlog"):
            print("scenario 5: event log on vs off")
            scen["event_log"] = bench.event_log()
        if want("limits"):
            print("scenario 9: three limits active vs none (c=16)")
            scen["limits"] = limits_scenario(bench)
        if want("durability"):
            print("scenario 5b: event durability answer vs async")
            scen["durability"] = bench.durability()
        if want("streams"):
            print("scenario 3: streams")
            scen["streams"] = bench.streams()
        if want("route"):
            print("scenario 8: a route with one healthy target vs the connector (c=1)")
            scen["route"] = route.measure(bench, max(8 * plan.rounds_c1, route.MIN_ROUNDS))
        if want("profile"):
            print("profile: py-spy on llmrelay under load (c=16)")
            scen["profile"] = bench.profile()
        idle = {p.name: p.rss() / 2**20 for p in bench.running}
        result["meta"]["rss_after_load_mb"] = idle
        for proc in (
            bench.floor,
            bench.relay,
            bench.relay_off,
            bench.relay_async,
            bench.base,
            bench.base_off,
            bench.litellm,
        ):
            if proc is not None:
                bench.stop(proc)
        if want("open"):
            print(f"scenario 4: {plan.open_streams} concurrent slow streams (fresh processes)")
            scen["open_streams"] = bench.open_streams()
        if want("cold"):
            print("scenario 7: cold start")
            scen["cold_start"] = bench.cold_start()
        bench.stop_all()
        if want("dashboard"):
            print(f"scenario 6: dashboard over {plan.dashboard_events:,} events")
            scen["dashboard"] = dashboard.run(plan.dashboard_events, plan.dashboard_repeats)
    finally:
        bench.stop_all()
        logs = RESULTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for log in (work / "logs").glob("*.log"):
            shutil.copy(log, logs / log.name)
        shutil.rmtree(work, ignore_errors=True)
    result["meta"]["foreign_cores_median"] = (
        median(bench.foreign["throughput"]) if bench.foreign["throughput"] else None
    )
    result["meta"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    result["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {path} in {result['meta']['duration_s']} s")
    if not args.no_report:
        from bench import report

        report.main([str(path)])
    if base is not None:
        print(compare.console(result))


if __name__ == "__main__":
    main()
