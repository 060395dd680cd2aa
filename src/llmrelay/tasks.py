"""Background tasks an object runs beside its callers (the event writer, the connector
feed, event log maintenance, the executor's late token counts), started and stopped one
way: none outlives its owner, and none dies with an exception nobody retrieves.

It sits beside ``errors`` at the bottom of the layers, so ``store/`` and ``execution/``
share it without importing each other; it holds no llmrelay knowledge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class BackgroundTasks:
    """A set of running tasks. A task that ends normally leaves the set by itself; one
    that fails stays until :meth:`stop`, which reports its exception."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __bool__(self) -> bool:
        """True while a task is running (or has failed and not been stopped)."""
        return bool(self._tasks)

    def start(self, work: Coroutine[Any, Any, None], *, name: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            self._tasks.discard(task)

    async def stop(self, *, drain: float | None = 0.0) -> list[BaseException]:
        """Stop every task and return the exceptions the tasks failed with.

        ``drain`` is how long to let them end by themselves first: 0 cancels at once,
        None waits as long as they take, a number waits that many seconds and then
        cancels what is left.
        """
        tasks, self._tasks = list(self._tasks), set()
        if not tasks:
            return []
        pending: set[asyncio.Task[None]] | list[asyncio.Task[None]] = tasks
        if drain is None or drain > 0:
            _, pending = await asyncio.wait(tasks, timeout=drain)
        for task in pending:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [
            result
            for result in results
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError)
        ]
