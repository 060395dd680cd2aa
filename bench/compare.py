"""The checkout against an earlier commit run beside it (``--baseline``): the 5% rule.

The project's rule: a change must not make ``make bench QUICK=1`` more than 5% worse than the
previous main in the same run. The figures it is read on are the sequential added p50 and
p99 and the requests/s at c=1 and c=16, for ``_execute`` and ``/v1``; a few more are shown
for information. Each figure is shown as the median over rounds for the current and for the
baseline target; the two are measured in the same rounds, one right after the other, so
each round gives a paired ratio, and the verdict is read on the median of those ratios
(a slow stretch of the machine hits both sides of a pair; with one round, the ratio of the
two values). Half the range of the per-round ratios is the noise figure: where it exceeds
the 5% the rule allows, the row says the verdict is within the noise of this machine (two
cores shared with other work): rerun, or run more rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LIMIT_PCT = 5.0
PATHS = (("execute", "`_execute`"), ("v1", "`/v1`"))
#: scenarios 1-2: (level, key in the results, name, unit, lower is better, part of the rule)
THROUGHPUT = (
    ("c1", "added_p50_ms", "added p50, sequential", "ms", True, True),
    ("c1", "added_p99_ms", "added p99, sequential", "ms", True, True),
    ("c1", "rps", "req/s at c=1", "/s", False, True),
    ("c16", "rps", "req/s at c=16", "/s", False, True),
    ("c16", "added_p99_ms", "added p99 at c=16", "ms", True, False),
    ("c16", "cpu_ms_per_req", "CPU per request at c=16", "ms", True, False),
)

HOWTO = [
    "## Against an earlier commit",
    "",
    "`make bench QUICK=1 BASELINE=origin/main` (a commit id, tag or `HEAD~3` works too) checks "
    "the project's rule: no figure more than 5% worse than the previous main, in the same run.",
    "",
    "- That commit's llmrelay runs as *baseline `_execute`* and *baseline `/v1`*, interleaved "
    "with this checkout's two doors in scenarios 1-3 and 5, with more rounds at c=1 and c=16 "
    "(`baseline_rounds` in `bench/run.py`; `python -m bench.run --quick --baseline REF "
    "--baseline-rounds 9` for more).",
    "- A table here and the end of the run's output give each figure for current and baseline "
    "(medians of rounds), the median of the per-round current / baseline ratios (each round "
    "measures both, one right after the other), how much worse that makes the checkout, "
    "**pass**/**FAIL** for "
    "the rule's figures (sequential added p50 and p99, req/s at c=1 and c=16, both doors) and "
    "the range of the per-round ratios; a spread beyond ±5% is flagged as this machine's "
    "noise: rerun, on a quieter machine if possible.",
    "- The commit's `src/` is extracted with `git archive` into `bench/.cache/baseline-<sha>/` "
    "(kept for the next run) and run by the same venv with `PYTHONPATH` pointing at it; every "
    "process logs the `llmrelay` it imported and refuses to start from another tree, and "
    "each home is prepared through that code's own CLI and HTTP API. A baseline that needs a "
    "package the venv lacks does not start; `bench/results/logs/base*.log` says which.",
    "",
    "Without `BASELINE` no baseline is run and this section has no table.",
    "",
]


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    current: float
    base: float
    lower_is_better: bool
    rule: bool
    rounds: Sequence[tuple[float, float]]  # (current, baseline) per round; empty if unknown

    @property
    def ratio(self) -> float:
        """Current / baseline: the median of the paired per-round ratios, if there are some."""
        ratios = self.round_ratios()
        if ratios:
            return statistics.median(ratios)
        return self.current / self.base if self.base > 0 else math.nan

    @property
    def worse_pct(self) -> float:
        """How much worse the checkout is, in percent (negative: better)."""
        r = self.ratio
        return 100 * (r - 1 if self.lower_is_better else 1 - r)

    def round_ratios(self) -> list[float]:
        return [c / b for c, b in self.rounds if b > 0 and c >= 0]

    @property
    def spread_pct(self) -> float | None:
        ratios = self.round_ratios()
        if len(ratios) < 2 or math.isnan(self.ratio):
            return None
        return 100 * (max(ratios) - min(ratios)) / 2 / self.ratio

    @property
    def verdict(self) -> str:
        if math.isnan(self.ratio):
            return "n/a"
        if not self.rule:
            return "info"
        return "pass" if self.worse_pct <= LIMIT_PCT else "FAIL"

    @property
    def note(self) -> str:
        if math.isnan(self.ratio):
            return "the baseline's figure is 0 or below (within the noise of direct)"
        spread = self.spread_pct
        if spread is None:
            return "one round" if len(self.rounds) == 1 else ""
        ratios = self.round_ratios()
        text = f"{min(ratios):.3f}-{max(ratios):.3f}"
        if spread > LIMIT_PCT:
            text += f", spread ±{spread:.1f}% > {LIMIT_PCT:.0f}%: within noise, rerun"
        return text


def _pairs(cur: dict[str, Any], base: dict[str, Any], key: str) -> list[tuple[float, float]]:
    a, b = cur.get("per_round", {}).get(key, []), base.get("per_round", {}).get(key, [])
    return list(zip(a, b, strict=True)) if len(a) == len(b) else []


def figures(scenarios: dict[str, Any]) -> list[Figure]:
    tp, ev, st = (scenarios.get(k) or {} for k in ("throughput", "event_log", "streams"))
    out: list[Figure] = []
    for path, door in PATHS:
        cur_t, base_t = f"relay_{path}", f"base_{path}"
        for level, key, name, unit, lower, rule in THROUGHPUT:
            cur, base = tp.get(level, {}).get(cur_t), tp.get(level, {}).get(base_t)
            if cur is not None and base is not None:
                pairs = _pairs(cur, base, key)
                fig = Figure(f"{door} {name}", unit, cur[key], base[key], lower, rule, pairs)
                out.append(fig)
        cur_ev, base_ev = ev.get(path), ev.get(base_t)
        if cur_ev and base_ev:
            a, b = cur_ev.get("rps_on_rounds", []), base_ev.get("rps_on_rounds", [])
            pairs = list(zip(a, b, strict=True)) if len(a) == len(b) else []
            name = f"{door} req/s at c=16, event log scenario"
            out.append(Figure(name, "/s", cur_ev["rps_on"], base_ev["rps_on"], False, False, pairs))
            name = f"{door} event log on / off"
            cur_r, base_r = cur_ev["ratio_on_off"], base_ev["ratio_on_off"]
            out.append(Figure(name, "", cur_r, base_r, False, False, ()))
        if cur_t in st and base_t in st:
            name = f"{door} stream added first byte p50"
            cur_s, base_s = st[cur_t], st[base_t]
            key = "added_first_byte_p50_ms"
            out.append(Figure(name, "ms", cur_s[key], base_s[key], True, False, ()))
    return out


def _value(v: float, unit: str) -> str:
    if unit == "/s":
        return f"{v:,.0f}"
    return f"{v:.3f}"


def _rounds(scenarios: dict[str, Any]) -> str:
    tp = scenarios.get("throughput", {})
    parts = [f"{tp[k]['relay_v1']['rounds']} at c={k[1:]}" for k in ("c1", "c16") if k in tp]
    ev = scenarios.get("event_log", {}).get("base_v1")
    if ev:
        parts.append(f"{ev['rounds']} in the event log scenario")
    return ", ".join(parts) or "none"


def overall(figs: Sequence[Figure]) -> str:
    rule = [x for x in figs if x.rule and x.verdict != "n/a"]
    failed = [x for x in rule if x.verdict == "FAIL"]
    noisy = [x for x in rule if (x.spread_pct or 0) > LIMIT_PCT]
    if not rule:
        return "no rule figure measured"
    text = (
        f"FAIL: {len(failed)} of {len(rule)} rule figures more than {LIMIT_PCT:.0f}% worse "
        f"({'; '.join(x.name for x in failed)})"
        if failed
        else f"PASS: all {len(rule)} rule figures within {LIMIT_PCT:.0f}% of the baseline"
    )
    if noisy:
        text += (
            f"; {len(noisy)} of them spread more than ±{LIMIT_PCT:.0f}% from round to round "
            "(a noisy machine: read those verdicts as uncertain)"
        )
    return text


def render(data: dict[str, Any]) -> list[str]:
    """The report's section: how to run it, and this run's comparison if it had one."""
    lines = list(HOWTO)
    base = data["meta"].get("baseline")
    if not base:
        return lines
    figs = figures(data["scenarios"])
    foreign = data["meta"].get("foreign_cores_median")
    lines += [
        f"This run: baseline `{base['ref']}` = `{base['sha'][:10]}` (llmrelay imported from "
        f"`{base['imported_from']}`); rounds: {_rounds(data['scenarios'])}; other processes "
        f"used a median {foreign if foreign is None else f'{foreign:.2f}'} cores. "
        f"**{overall(figs)}.**",
        "",
        "| figure | current | baseline | current / baseline (median of rounds) | worse by | "
        "verdict | per-round ratios |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in figs:
        worse = "—" if math.isnan(x.ratio) else f"{x.worse_pct:+.1f}%"
        lines.append(
            f"| {x.name} | {_value(x.current, x.unit)} | {_value(x.base, x.unit)} | "
            f"{x.ratio:.3f} | {worse} | {x.verdict} | {x.note} |"
        )
    return [*lines, ""]


def console(data: dict[str, Any]) -> str:
    """The summary printed at the end of ``make bench BASELINE=...``."""
    base = data["meta"]["baseline"]
    figs = figures(data["scenarios"])
    out = [
        f"against baseline {base['ref']} ({base['sha'][:10]}): current vs baseline (medians), "
        f"median of the per-round ratios, how much worse, verdict, per-round range "
        f"(rounds: {_rounds(data['scenarios'])}; worse by > {LIMIT_PCT:.0f}% fails):"
    ]
    width = max((len(x.name) for x in figs), default=10)
    for x in figs:
        worse = "   —  " if math.isnan(x.ratio) else f"{x.worse_pct:+6.1f}%"
        out.append(
            f"  {x.name:<{width}}  {_value(x.current, x.unit):>8} vs {_value(x.base, x.unit):>8}"
            f"  ratio {x.ratio:6.3f}  {worse}  {x.verdict:<4}  {x.note}"
        )
    out.append(overall(figs))
    return "\n".join(out)
