"""BackgroundTasks: what a stop does with tasks that finished, failed or still run."""

from __future__ import annotations

import asyncio

from llmrelay.tasks import BackgroundTasks


async def test_a_task_that_ends_leaves_and_a_failure_waits_for_stop() -> None:
    tasks = BackgroundTasks()

    async def fine() -> None:
        return None

    async def broken() -> None:
        raise RuntimeError("boom")

    tasks.start(fine(), name="fine")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not tasks
    tasks.start(broken(), name="broken")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert tasks  # kept: its exception is still to be reported
    failures = await tasks.stop()
    assert [str(err) for err in failures] == ["boom"]
    assert not tasks


async def test_stop_cancels_at_once_or_lets_the_tasks_end() -> None:
    tasks = BackgroundTasks()
    release = asyncio.Event()
    ended: list[str] = []

    async def waits(label: str) -> None:
        await release.wait()
        ended.append(label)

    tasks.start(waits("cancelled"))
    await asyncio.sleep(0)
    assert await tasks.stop() == []  # cancelled, which is no failure
    assert ended == []

    tasks.start(waits("drained"))
    stopping = asyncio.ensure_future(tasks.stop(drain=None))
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    assert await stopping == []
    assert ended == ["drained"]
