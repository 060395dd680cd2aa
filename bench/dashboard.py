"""Scenario 6: the usage dashboard over N million events (SQLite store).

The dashboard reads rollups only (``EventRepository.usage``), so the store is filled with
the minute, hour and day rollup rows that the event writer would have produced for N
``execute`` events spread evenly over the last 30 days: events are drawn with numpy (a
Zipf-like mix of 400 user/connector/model combinations x 3 usage sources, ~1% failures),
summed per (interval, bucket, key) exactly as ``event_rows.rollup_rows`` sums them, and
bulk-inserted with ``sqlite3.executemany`` in key order into the schema the store's
migrations created. The raw ``events`` table stays empty: no dashboard query reads it. The
database is cached under ``bench/.cache`` by event count and reused while the schema file
is unchanged.

The measured call is what ``GET /api/llmrelay/usage`` runs; the dashboard page issues three
of them at once (group by user, connector, model) for its 30-day view (``interval=day``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
USERS, CONNECTORS, MODELS, COMBOS = 200, 20, 10, 400
SOURCES = ("response", "stream", "estimated")
SOURCE_WEIGHTS = (0.80, 0.15, 0.05)
DAYS = 30
_US = 1_000_000
_STEP = {"minute": 60 * _US, "hour": 3600 * _US, "day": 86400 * _US}


def _schema_digest() -> str:
    import llmrelay.store.migrations as migrations
    import llmrelay.store.schema as schema

    text = Path(schema.__file__).read_bytes() + Path(migrations.__file__).read_bytes()
    return hashlib.sha256(text).hexdigest()[:12]


def _combos(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    out: dict[tuple[str, str, str], None] = {}
    while len(out) < COMBOS:
        user = f"user-{int(rng.integers(USERS)):03d}"
        connector = f"connector-{int(rng.integers(CONNECTORS)):02d}"
        model = f"model-{int(rng.integers(MODELS))}"
        out[(user, connector, model)] = None
    return list(out)


def _rollups(events: int, now_us: int, seed: int = 7) -> dict[str, Any]:
    """Columns of every rollup row for ``events`` events in the 30 days before ``now``."""
    rng = np.random.default_rng(seed)
    combos = _combos(rng)
    weights = 1.0 / np.arange(1, COMBOS + 1) ** 0.8
    weights /= weights.sum()
    start_us = now_us - DAYS * 86400 * _US
    keys = rng.choice(COMBOS, size=events, p=weights).astype(np.int64)
    sources = rng.choice(len(SOURCES), size=events, p=SOURCE_WEIGHTS).astype(np.int64)
    times = rng.integers(start_us, now_us, size=events, dtype=np.int64)
    prompt = rng.integers(20, 2000, size=events, dtype=np.int64)
    completion = rng.integers(5, 800, size=events, dtype=np.int64)
    failed = (rng.random(events) < 0.01).astype(np.int64)
    key = keys * len(SOURCES) + sources
    tables: dict[str, Any] = {"combos": combos}
    for interval, step in _STEP.items():
        base = start_us // step - 1  # bucket numbers relative to this stay positive
        width = COMBOS * len(SOURCES)
        code = (times // step - base) * width + key
        uniq, inverse = np.unique(code, return_inverse=True)
        tables[interval] = {
            "bucket": (uniq // width + base) * step,  # the UTC floor, as floor_to() gives
            "key": uniq % width,
            "prompt": np.bincount(inverse, weights=prompt).astype(np.int64),
            "completion": np.bincount(inverse, weights=completion).astype(np.int64),
            "executions": np.bincount(inverse).astype(np.int64),
            "failures": np.bincount(inverse, weights=failed).astype(np.int64),
        }
    return tables


async def _create_schema(url: str) -> None:
    from llmrelay.store import open_store

    store = await open_store(url, encryption_key="bench-encryption-key-0123456789abcdef")
    await store.close()


def build(events: int) -> tuple[Path, dict[str, Any]]:
    """The cached database for ``events`` events (built when missing); and how it was made."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"dashboard-{events}-{_schema_digest()}.db"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        import json

        meta = json.loads(meta_path.read_text())
        meta["reused"] = True
        return path, meta
    for old in CACHE.glob(f"dashboard-{events}-*"):
        old.unlink()
    started = time.perf_counter()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now_us = int(now.timestamp()) * _US
    tables = _rollups(events, now_us)
    generated = time.perf_counter() - started
    asyncio.run(_create_schema(f"sqlite+aiosqlite:///{path}"))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-512000")
    combos = tables["combos"]
    rows_total = 0
    insert = (
        "INSERT INTO usage_rollups (interval, bucket, space_id, connector_id, model, user_name,"
        " usage_source, endpoint, route_id, prompt_tokens, completion_tokens, total_tokens,"
        " executions, failures, cost_nano_usd, unpriced_tokens, unpriced_executions)"
        " VALUES (?, ?, 'default', ?, ?, ?, ?, 'chat', '', ?, ?, ?, ?, ?, 0, 0, 0)"
    )
    with db:
        for interval in ("minute", "hour", "day"):
            t = tables[interval]
            combo = t["key"] // len(SOURCES)
            source = t["key"] % len(SOURCES)

            prompt, completion = t["prompt"].tolist(), t["completion"].tolist()
            rows = zip(
                itertools.repeat(interval),
                t["bucket"].tolist(),
                [combos[i][1] for i in combo.tolist()],
                [combos[i][2] for i in combo.tolist()],
                [combos[i][0] for i in combo.tolist()],
                [SOURCES[i] for i in source.tolist()],
                prompt,
                completion,
                (t["prompt"] + t["completion"]).tolist(),
                t["executions"].tolist(),
                t["failures"].tolist(),
                strict=False,
            )
            db.executemany(insert, rows)
            rows_total += len(t["bucket"])
    db.execute("ANALYZE")
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT bucket, sum(total_tokens) FROM usage_rollups"
        " WHERE interval = 'day' AND space_id = 'default' AND bucket >= 0 GROUP BY bucket"
    ).fetchall()
    db.close()
    meta = {
        "events": events,
        "rollup_rows": rows_total,
        "rows_by_interval": {i: len(tables[i]["bucket"]) for i in ("minute", "hour", "day")},
        "now": now.isoformat(),
        "generate_s": round(generated, 2),
        "build_s": round(time.perf_counter() - started, 2),
        "db_bytes": path.stat().st_size,
        "reused": False,
        "query_plan": [str(row[-1]) for row in plan],
    }
    import json

    meta_path.write_text(json.dumps(meta))
    return path, meta


async def _measure(path: Path, now_iso: str, repeats: int) -> dict[str, Any]:
    from llmrelay.store import open_store

    store = await open_store(
        f"sqlite+aiosqlite:///{path}", encryption_key="bench-encryption-key-0123456789abcdef"
    )
    end = datetime.fromisoformat(now_iso) + timedelta(minutes=1)
    start = end - timedelta(days=30)
    try:

        async def one(group: str | None, interval: str = "day") -> tuple[float, int]:
            began = time.perf_counter()
            rows = await store.events.usage(
                space_id="default",
                start=start,
                end=end,
                interval=interval,  # type: ignore[arg-type]
                group_by=group,  # type: ignore[arg-type]
            )
            return (time.perf_counter() - began) * 1000, len(rows)

        await one("user")  # first touch of the file: reported apart as the cold query
        out: dict[str, Any] = {}
        cold_ms, _ = await one("model")
        singles: list[float] = []
        pages: list[float] = []
        hourly: list[float] = []
        row_count = 0
        for _ in range(repeats):
            ms, row_count = await one("user")
            singles.append(ms)
            began = time.perf_counter()
            await asyncio.gather(one("user"), one("connector"), one("model"))
            pages.append((time.perf_counter() - began) * 1000)
        for _ in range(max(3, repeats // 5)):
            ms, _ = await one("user", "hour")
            hourly.append(ms)
        from bench.load import pct

        out["single_by_user_ms"] = {"p50": pct(singles, 50), "p95": pct(singles, 95)}
        out["dashboard_3_queries_ms"] = {"p50": pct(pages, 50), "p95": pct(pages, 95)}
        out["hourly_30d_by_user_ms"] = {"p50": pct(hourly, 50), "p95": pct(hourly, 95)}
        out["rows_returned_by_user"] = row_count
        out["repeats"] = repeats
        out["first_query_after_open_ms"] = cold_ms
        return out
    finally:
        await store.close()


def run(events: int, repeats: int = 30) -> dict[str, Any]:
    path, meta = build(events)
    return {"store": meta, **asyncio.run(_measure(path, meta["now"], repeats))}
