"""A separate process sharing one spool file with others (for the cross-process spool tests).

``python -m tests.store.spool_worker ROLE SPOOL DIR NAME PEERS APPENDERS COUNT``:

- ``append``: appends COUNT batches of 3 documents (ids ``NAME-<batch>-<n>``);
- ``replay``: replays into an in-memory store until the APPENDERS have finished, then until
  the spool is empty;
- ``both``: what a worker of ``serve --workers N`` does: appends like ``append`` and replays
  a few batches after every few appends, then replays like ``replay``.

Every process signals readiness with a file in ``DIR/ready`` and waits until all PEERS are
ready (so they really overlap); appending roles mark the end of their appends in
``DIR/done``. A process prints the ids its replays wrote, one per line, in the order written.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from llmrelay.store.spool import Spool


def _count(directory: Path) -> int:
    return len(list(directory.iterdir()))


async def _run(argv: list[str]) -> list[str]:
    role, spool_path, base, name, peers, appenders, count = argv
    spool = Spool(Path(spool_path))
    ready, done = Path(base) / "ready", Path(base) / "done"
    written: list[str] = []

    async def write(documents: Sequence[Mapping[str, object]]) -> int:
        for document in documents:
            event = document["event"]
            assert isinstance(event, Mapping)
            written.append(str(event["id"]))
        return len(documents)

    (ready / name).touch()
    # a start line, not a timing (nothing like an asyncio.Event crosses processes)
    while _count(ready) < int(peers):  # noqa: ASYNC110
        await asyncio.sleep(0.001)

    if role in ("append", "both"):
        try:
            for batch in range(int(count)):
                documents = [{"event": {"id": f"{name}-{batch}-{n}"}} for n in range(3)]
                await asyncio.to_thread(spool.append, documents)
                if role == "both" and batch % 4 == 3:
                    await spool.replay(write, batch_size=5, max_batches=2)
        finally:
            (done / name).touch()  # also after a failure: the others must not wait forever
    if role in ("replay", "both"):
        while _count(done) < int(appenders):
            if not await spool.replay(write, batch_size=5, max_batches=3):
                await asyncio.sleep(0.001)  # nothing spooled right now: let the others run
        while await spool.replay(write, batch_size=5):
            pass
    return written


if __name__ == "__main__":
    print("\n".join(asyncio.run(_run(sys.argv[1:]))))
