"""Connector change notifications between processes: PostgreSQL ``LISTEN``/``NOTIFY``.

Every replica and worker caches validated connectors (secrets decrypted). The repository
sends ``NOTIFY llmrelay_connectors`` with ``[space_id, connector_id]`` inside the
transaction that creates, updates or deletes a connector, so it is delivered exactly when
the change commits. :class:`ConnectorChangeFeed` keeps one dedicated connection per process
listening on that channel and hands each change to a callback.

A connection that drops (database restart, network) is re-opened in the background; since
notifications sent meanwhile are lost, ``on_gap`` is called once it listens again so the
caller re-checks everything it holds. The feed is an accelerator, not the guarantee: callers
still re-validate cached entries by version after a bounded time (see ``Relay.resolve``).
On SQLite there is nothing to listen to and the feed does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.store.drivers import import_asyncpg
from llmrelay.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

CHANNEL = "llmrelay_connectors"
EVERYTHING = "*"  # payload meaning "assume every connector changed"
_MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
_HEALTH_CHECK_SECONDS = 15.0  # an idle listener pings this often to notice a dead peer
_CONNECT_TIMEOUT_SECONDS = 5.0


async def notify_connector_changed(conn: AsyncConnection, space_id: str, connector_id: str) -> None:
    """Queue the change notification in ``conn``'s transaction (sent at commit; PG only)."""
    if conn.dialect.name != "postgresql":
        return
    payload = orjson.dumps([space_id, connector_id]).decode()
    if len(payload.encode()) > _MAX_PAYLOAD:
        payload = EVERYTHING
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ConnectorChangeFeed:
    """Calls ``on_change(space_id, connector_id)`` for every connector change any process
    commits, and ``on_gap()`` when changes may have been missed (after a reconnect)."""

    def __init__(
        self,
        url: URL,
        *,
        on_change: Callable[[str, str], None],
        on_gap: Callable[[], None],
        retry_interval: float = 1.0,
    ) -> None:
        self._url = url
        self._on_change = on_change
        self._on_gap = on_gap
        self._retry_interval = retry_interval
        self._tasks = BackgroundTasks()
        self._listening = asyncio.Event()
        self._down_logged = False

    @property
    def enabled(self) -> bool:
        return self._url.get_backend_name() == "postgresql"

    @property
    def listening(self) -> bool:
        """True while notifications are being received."""
        return self._listening.is_set()

    async def start(self, *, wait: float = 5.0) -> None:
        """Start listening (in the background); waits up to ``wait`` seconds for the first
        connection so changes made right after start-up are not missed, but never fails:
        a database that is down now is retried, and version checks cover the gap."""
        if not self.enabled or self._tasks:
            return
        asyncpg = import_asyncpg()  # here, not in the task: a missing driver is fatal
        self._tasks.start(self._run(asyncpg), name="llmrelay-connector-feed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._listening.wait()

    async def stop(self) -> None:
        for err in await self._tasks.stop():
            logger.error("connector change feed failed: %s", type(err).__name__)

    # --- the listening task ------------------------------------------------------------

    async def _run(self, asyncpg: Any) -> None:
        connected_before = False
        while True:
            try:
                conn = await asyncpg.connect(
                    _asyncpg_dsn(self._url),
                    timeout=_CONNECT_TIMEOUT_SECONDS,
                    server_settings={"application_name": "llmrelay-listen"},
                )
            except (OSError, TimeoutError, asyncpg.PostgresError) as err:
                self._went_down(err)
                await asyncio.sleep(self._retry_interval)
                continue
            try:
                await self._listen(conn, gap=connected_before)
                connected_before = True
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                self._went_down(err)
            finally:
                self._listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(timeout=1), 2)
            await asyncio.sleep(self._retry_interval)

    async def _listen(self, conn: Any, *, gap: bool) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, self._deliver)
        self._listening.set()
        if self._down_logged:
            logger.info("connector change feed listening again")
            self._down_logged = False
        if gap:
            self._on_gap()  # notifications sent while we were away are gone
        while not lost.is_set() and not conn.is_closed():
            try:
                async with asyncio.timeout(_HEALTH_CHECK_SECONDS):
                    await lost.wait()
            except TimeoutError:
                await conn.execute("SELECT 1", timeout=_CONNECT_TIMEOUT_SECONDS)
        raise OSError("listening connection closed")

    def _went_down(self, err: BaseException) -> None:
        if not self._down_logged:
            logger.warning(
                "connector change feed not listening (%s: %s); retrying, cached connectors "
                "are re-checked by version meanwhile",
                type(err).__name__,
                str(err).splitlines()[0] if str(err) else "",
            )
            self._down_logged = True

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == EVERYTHING:
            self._on_gap()
            return
        try:
            space_id, connector_id = orjson.loads(payload)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            self._on_gap()  # unreadable: assume the worst
            return
        self._on_change(str(space_id), str(connector_id))
