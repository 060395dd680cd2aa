"""A separate process admitting requests against shared limits (for the concurrency tests).

``python -m tests.store.limit_worker URL SPACE LIMIT_ID AT ATTEMPTS TASKS READY_DIR NAME PEERS``:
opens its own engine on the database, signals readiness with a file in READY_DIR and waits
until PEERS workers are ready (so the processes really overlap), then runs TASKS concurrent
tasks that together make ATTEMPTS admissions at the fixed time AT, and prints how many were
admitted.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from llmrelay.store import create_engine
from llmrelay.store.limit_counters import LimitCounters
from llmrelay.store.limits import LimitRepository


async def _run(argv: list[str]) -> int:
    url, space, limit_id, at_text, attempts, tasks, ready_dir, name, peers = argv
    at = datetime.fromisoformat(at_text)
    engine = create_engine(url)
    try:
        stored = await LimitRepository(engine).get(space, limit_id)
        counters = LimitCounters(engine)
        ready = Path(ready_dir)
        (ready / name).touch()
        # a start line, not a timing (no asyncio.Event crosses processes)
        while len(await asyncio.to_thread(lambda: list(ready.iterdir()))) < int(peers):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        remaining = int(attempts)
        admitted = 0

        async def task() -> None:
            nonlocal remaining, admitted
            while remaining > 0:
                remaining -= 1
                if (await counters.admit([stored], at)).admitted:
                    admitted += 1

        await asyncio.gather(*(task() for _ in range(int(tasks))))
        return admitted
    finally:
        await engine.dispose()


if __name__ == "__main__":
    print(asyncio.run(_run(sys.argv[1:])))
