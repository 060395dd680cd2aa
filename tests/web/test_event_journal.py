"""The event journal through the HTTP API: a full disk withholds answers with an error
naming the event log (``_execute``, ``/v1``, a stream), and they come back once there is
space; ``llmrelay.eventLog.durability: async`` answers without journalling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service, make_settings, start_service
from tests.helpers.tmpfs import fill, small_tmpfs
from tests.reliability.conftest import MESSAGES, XSRF, execute_events, make_connector

pytestmark = pytest.mark.network

WITHHELD = (
    "The event log could not record this execution: its journal is not writable "
    "(No space left on device). The answer is withheld so that no answered execution goes "
    "unrecorded; free space in llmrelay's data directory and retry."
)


@pytest.fixture
def full_disk_service(tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    """A service whose journal directory is a 64 KiB tmpfs."""
    home = tmp_path / "home"
    with small_tmpfs(home / "journal") as journal:
        svc = start_service(make_settings(home))
        try:
            yield svc, journal
        finally:
            svc.thread.stop()


def _execute(client: httpx.Client, connector_id: str) -> httpx.Response:
    params = {"subAction": "run", "subActionParams": {"body": json.dumps({"messages": MESSAGES})}}
    return client.post(
        f"/api/actions/connector/{connector_id}/_execute", json={"params": params}, headers=XSRF
    )


def _v1(client: httpx.Client, connector_id: str, *, stream: bool) -> httpx.Response:
    body = {"model": connector_id, "messages": MESSAGES, "stream": stream}
    return client.post("/v1/chat/completions", json=body)


def test_a_full_disk_withholds_answers_naming_the_event_log(
    full_disk_service: tuple[Service, Path], upstream: FakeUpstream
) -> None:
    service, journal = full_disk_service
    with service.client(service.admin) as client:
        connector_id = make_connector(client, upstream.url())
        ballast = fill(journal)

        answer = _execute(client, connector_id)
        assert answer.status_code == 503
        assert answer.json() == {
            "statusCode": 503,
            "error": "Service Unavailable",
            "message": WITHHELD,
        }

        answer = _v1(client, connector_id, stream=False)
        assert answer.status_code == 503
        assert answer.json() == {
            "error": {"message": WITHHELD, "type": "server_error", "param": None, "code": None}
        }

        answer = _v1(client, connector_id, stream=True)
        assert answer.status_code == 200  # the headers left before the end was known
        assert b"[DONE]" not in answer.content
        last = answer.content.rstrip().split(b"\n\n")[-1]
        assert last.startswith(b"event: error\ndata: ")
        error = json.loads(last.split(b"data: ", 1)[1])["error"]
        assert error == {
            "message": WITHHELD,
            "type": "server_error",
            "param": None,
            "code": None,
        }

        core = client.get("/api/status").json()["status"]["core"]
        assert core["eventWriter"]["meta"]["journal_failed"] == 3

        ballast.unlink()
        assert _execute(client, connector_id).json()["status"] == "ok"
        stream = _v1(client, connector_id, stream=True)
        assert stream.content.endswith(b"data: [DONE]\n\n")

        # the withheld executions still reach the store (the upstream did the work)
        deadline = time.monotonic() + 10
        while len(execute_events(client, connector_id)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(execute_events(client, connector_id)) == 5


def test_async_durability_answers_without_a_journal(tmp_path: Path, upstream: FakeUpstream) -> None:
    home = tmp_path / "home"
    with small_tmpfs(home / "journal") as journal:
        service = start_service(make_settings(home, **{"llmrelay.eventLog.durability": "async"}))
        try:
            with service.client(service.admin) as client:
                connector_id = make_connector(client, upstream.url())
                fill(journal)
                assert _execute(client, connector_id).json()["status"] == "ok"
                assert _v1(client, connector_id, stream=False).status_code == 200
        finally:
            service.thread.stop()
        assert not list(journal.glob("*.journal"))
