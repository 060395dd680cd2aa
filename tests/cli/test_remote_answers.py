"""What the remote commands make of the server's answers: a server that is not llmrelay, an
unknown connector for ``events``, and connector names in ``usage --by connector``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from llmrelay.cli.main import app
from llmrelay.cli.remote import Remote, RemoteError, Target
from llmrelay.testing import FakeUpstream
from tests.cli.test_remote_cli import create, error_line, ok, run, wait_events
from tests.fixtures.service import Service
from tests.gateway.conftest import create_connector

runner = CliRunner()


@pytest.fixture
def admin_key(service: Service) -> str:
    return service.api_key(["admin"], owner="admin")["Authorization"].split(" ", 1)[1]


@dataclass
class Answer:
    status: int
    content_type: str | None
    body: bytes


class Foreign:
    """A plain HTTP server on loopback that answers every request with ``answer``."""

    def __init__(self) -> None:
        self.answer = Answer(200, "text/html; charset=utf-8", b"<html><body>hi</body></html>")
        self.paths: list[str] = []
        foreign = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                foreign.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                answer = foreign.answer
                self.send_response(answer.status)
                if answer.content_type:
                    self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = _reply

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Foreign:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def foreign() -> Iterator[Foreign]:
    with Foreign() as server:
        yield server


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--relay-url", url, "--relay-key", "k"])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, error_line(result)


COMMANDS = [
    ("connectors", "list"),
    ("connectors", "get", "some-id"),
    ("connectors", "test", "some-id"),
    ("connectors", "delete", "some-id", "--yes"),
    ("usage",),
    ("usage", "--by", "connector"),
    ("events",),
    ("events", "--connector", "some-id"),
]


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, "text/html; charset=utf-8", b"<!doctype html><title>Welcome</title>"),
        Answer(404, "text/html", b"<h1>404 Not Found</h1>"),
        Answer(404, "application/json", b'{"detail": "Not Found"}'),
        Answer(401, "text/plain", b"go away"),
        Answer(500, None, b""),
        Answer(200, "application/json", b"{not json"),
    ],
    ids=["html-200", "html-404", "json-404", "text-401", "empty-500", "bad-json"],
)
def test_a_server_that_is_not_llmrelay_is_named_in_one_line(
    foreign: Foreign, answer: Answer
) -> None:
    foreign.answer = answer
    for command in COMMANDS:
        code, line = invoke(foreign.url, *command)
        assert code == 1, (command, line)
        assert line.startswith(f"error: {foreign.url}: not an llmrelay server ("), (command, line)
        assert re.search(rf"answered {answer.status}\b", line), line


def test_the_line_says_what_answered(foreign: Foreign) -> None:
    _, line = invoke(foreign.url, "connectors", "list")
    assert line == (
        f"error: {foreign.url}: not an llmrelay server "
        "(GET /api/actions/connectors answered 200 OK, text/html)"
    )
    # only one probe beside the call itself: /api/status, which a foreign server fails
    assert foreign.paths == ["/api/actions/connectors", "/api/status"]


def test_json_of_the_wrong_shape_is_not_llmrelay(foreign: Foreign) -> None:
    foreign.answer = Answer(200, "application/json", b'{"items": []}')
    code, line = invoke(foreign.url, "connectors", "list")
    assert code == 1 and "not an llmrelay server (GET /api/actions/connectors answered 200" in line
    foreign.answer = Answer(200, "application/json", b"[]")
    code, line = invoke(foreign.url, "usage")
    assert code == 1 and "(GET /api/llmrelay/usage answered 200 OK, application/json)" in line


def test_llmrelay_answering_outside_its_api_is_told_apart(service: Service, admin_key: str) -> None:
    """An llmrelay that answers a path with something its API never sends (an unknown
    route, or a proxy in front rewriting answers) is not called "not llmrelay"."""
    target = Target.from_options(service.url, admin_key, "default")
    with Remote(target) as remote, pytest.raises(RemoteError) as caught:
        remote.get("/no-such-route")
    assert caught.value.message == (
        f"{service.url}: llmrelay, but GET /api/no-such-route answered 404 Not Found, "
        "text/plain, which its API never answers (an older llmrelay, or a proxy in between?)"
    )


def test_events_for_an_unknown_connector_says_it_does_not_exist(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    missing = run(service, admin_key, "events", "-s", "cli-missing", "--connector", "nope")
    assert missing.exit_code == 1
    assert error_line(missing) == "error: Saved object [action/nope] not found (404)"
    tested = run(service, admin_key, "connectors", "test", "nope", "-s", "cli-missing")
    assert error_line(tested) == error_line(missing)
    as_json = run(
        service, admin_key, "events", "-s", "cli-missing", "--connector", "nope", "--json"
    )
    assert as_json.exit_code == 1 and as_json.stdout == ""
    # a connector without executions is not an error
    quiet = create(service, admin_key, "cli-missing", upstream, name="Quiet")
    empty = ok(run(service, admin_key, "events", "-s", "cli-missing", "--connector", quiet))
    assert "no executions found" in empty.stderr
    # usage_read alone cannot look connectors up: the event log is still searched
    analyst = service.api_key(["usage_read"])["Authorization"].split()[1]
    for connector_id in (quiet, "nope"):
        found = ok(
            run(service, analyst, "events", "-s", "cli-missing", "--connector", connector_id)
        )
        assert "no executions found" in found.stderr


def test_usage_by_connector_shows_names_beside_ids(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    space = "cli-names"
    first = create(service, admin_key, space, upstream, name="Alpha model")
    second = create(service, admin_key, space, upstream, name="Beta model")
    ok(run(service, admin_key, "connectors", "test", first, "-s", space))
    ok(run(service, admin_key, "connectors", "test", second, "-s", space))
    wait_events(service, admin_key, space, first, 1)
    wait_events(service, admin_key, space, second, 1)

    table = ok(run(service, admin_key, "usage", "-s", space, "--by", "connector")).stdout
    header = next(line for line in table.splitlines() if "bucket" in line)
    assert re.search(r"connector\s+.*name\s+.*executions", header), table
    rows = {line for line in table.splitlines() if first in line or second in line}
    assert any(first in row and "Alpha model" in row for row in rows), table
    assert any(second in row and "Beta model" in row for row in rows), table
    # --json stays the server's document
    report = json.loads(
        ok(run(service, admin_key, "usage", "-s", space, "--by", "connector", "--json")).stdout
    )
    assert {b["key"] for b in report["buckets"]} == {first, second}
    # a caller who may read usage but not connectors still gets the table, by id
    analyst = service.api_key(["usage_read"])["Authorization"].split()[1]
    by_id = ok(run(service, analyst, "usage", "-s", space, "--by", "connector")).stdout
    assert first in by_id and "Alpha model" not in by_id


def test_usage_by_endpoint_with_a_cost_column(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    space = "cli-cost"
    local = create(service, admin_key, space, upstream, name="Local")  # local-model: no price
    priced = create_connector(service, space, upstream.url(), defaultModel="gpt-4o")
    ok(run(service, admin_key, "connectors", "test", local, "-s", space))
    ok(run(service, admin_key, "connectors", "test", priced, "-s", space))
    wait_events(service, admin_key, space, local, 1)
    (event,) = wait_events(service, admin_key, space, priced, 1)
    cost = event["llmrelay"]["cost_usd"]
    assert cost > 0

    table = ok(run(service, admin_key, "usage", "-s", space, "--by", "endpoint")).stdout
    header = next(line for line in table.splitlines() if "bucket" in line)
    assert re.search(r"endpoint\s+.*unpriced\s+.*cost USD", header), table
    total = next(line for line in table.splitlines() if re.match(r"\W*total\b", line))
    assert f"{cost:,.6f}" in total, table
    assert any("chat" in line for line in table.splitlines()), table
    assert "tokens were used by models without a price" in table
    report = json.loads(
        ok(run(service, admin_key, "usage", "-s", space, "--by", "route", "--json")).stdout
    )
    assert report["totals"]["cost_usd"] == cost and report["totals"]["unpriced_tokens"] > 0
    assert {b["key"] for b in report["buckets"]} == {None}
    embeddings = ok(run(service, admin_key, "usage", "-s", space, "--endpoint", "embeddings"))
    assert "on endpoint embeddings" in embeddings.stdout
    bad = run(service, admin_key, "usage", "-s", space, "--endpoint", "images")
    assert bad.exit_code == 1 and "[endpoint]: expected one of chat" in bad.stderr
