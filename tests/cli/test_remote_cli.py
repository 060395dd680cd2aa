"""``llmrelay connectors|usage|events`` against a real service and the fake upstream:
success and failure paths, ``--json`` documents, exit codes, and no secret in any output."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from llmrelay.cli.main import app
from llmrelay.cli.remote import Target
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service

runner = CliRunner()
SECRET = "sk-cli-upstream-secret-0042"
OTHER_SECRET = "sk-cli-rotated-secret-0099"


@pytest.fixture
def admin_key(service: Service) -> str:
    return service.api_key(["admin"], owner="admin")["Authorization"].split(" ", 1)[1]


def run(
    service: Service,
    key: str,
    *args: str,
    input: str | None = None,
    **env: str,
) -> Result:
    """Invoke the CLI with the connection in the environment; never leaks a secret."""
    environ = {"LLMRELAY_URL": service.url, "LLMRELAY_API_KEY": key, **env}
    result = runner.invoke(app, list(args), env=environ, input=input)
    for secret in (SECRET, OTHER_SECRET, key):
        assert secret not in result.output, result.output
    assert "Traceback" not in result.output, result.output
    return result


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def error_line(result: Result) -> str:
    """The one error line (after a prompt's text when the runner's input did not end it)."""
    lines = [
        line[line.index("error:") :] for line in result.stderr.splitlines() if "error:" in line
    ]
    assert len(lines) == 1, result.output
    return lines[0]


def create(service: Service, key: str, space: str, upstream: FakeUpstream, **kw: str) -> str:
    provider = kw.get("provider", "Other")
    result = ok(
        run(
            service,
            key,
            "connectors",
            "create",
            "--space",
            space,
            "--name",
            kw.get("name", "Local model"),
            "--provider",
            provider,
            "--url",
            upstream.url(),
            "--default-model",
            "local-model",
            "--json",
            LLMRELAY_CONNECTOR_API_KEY=SECRET,
        )
    )
    connector_id: str = json.loads(result.stdout)["id"]
    return connector_id


def wait_events(service: Service, key: str, space: str, connector_id: str, count: int) -> Any:
    """Events are written off the request path: poll until ``count`` executions are listed."""
    deadline = time.monotonic() + 10
    while True:
        result = ok(run(service, key, "events", "-s", space, "--connector", connector_id, "--json"))
        docs = json.loads(result.stdout)
        if len(docs) >= count or time.monotonic() > deadline:
            assert len(docs) == count, docs
            return docs
        time.sleep(0.05)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- help and connection -----------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["connectors"],
        ["connectors", "list"],
        ["connectors", "get"],
        ["connectors", "create"],
        ["connectors", "update"],
        ["connectors", "delete"],
        ["connectors", "test"],
        ["usage"],
        ["events"],
    ],
)
def test_help_on_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output


def test_missing_or_bad_connection_settings_are_usage_errors(service: Service) -> None:
    no_url = runner.invoke(app, ["connectors", "list"], env={"LLMRELAY_API_KEY": "k"})
    assert no_url.exit_code == 2 and "LLMRELAY_URL" in error_line(no_url)
    no_key = runner.invoke(app, ["usage"], env={"LLMRELAY_URL": service.url})
    assert no_key.exit_code == 2 and "LLMRELAY_API_KEY" in error_line(no_key)
    bad_url = runner.invoke(
        app, ["events", "--relay-url", "ftp://relay", "--relay-key", "k", "--connector", "x"]
    )
    assert bad_url.exit_code == 2 and "'ftp://relay'" in error_line(bad_url)
    bad_flag = runner.invoke(app, ["usage", "--by", "planet"], env={"LLMRELAY_URL": service.url})
    assert bad_flag.exit_code == 2
    odd_key = runner.invoke(
        app, ["usage"], env={"LLMRELAY_URL": service.url, "LLMRELAY_API_KEY": "kéy"}
    )
    assert odd_key.exit_code == 2 and "header" in error_line(odd_key)


def test_a_pasted_header_value_works_and_the_key_stays_out_of_reprs(
    service: Service, admin_key: str
) -> None:
    ok(run(service, admin_key, "connectors", "list", LLMRELAY_API_KEY=f"ApiKey {admin_key}"))
    assert admin_key not in repr(Target.from_options(service.url, admin_key, "default"))


def test_unreachable_server_is_one_line_with_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = runner.invoke(app, ["connectors", "list", "--relay-url", url, "--relay-key", "k"])
    assert result.exit_code == 1
    assert error_line(result) == f"error: cannot reach llmrelay at {url}: connection refused"


def test_rejected_key_and_forbidden_action(service: Service, upstream: FakeUpstream) -> None:
    rejected = run(service, "bm90LWEta2V5", "connectors", "list")
    assert rejected.exit_code == 1
    assert error_line(rejected) == "error: the API key was rejected (401)"
    reader = service.api_key(["connectors_read"])["Authorization"].split()[1]
    denied = run(
        service,
        reader,
        "connectors",
        "create",
        "-s",
        "cli-forbidden",
        "--name",
        "x",
        "--provider",
        "other",
        "--url",
        upstream.url(),
        "--api-key",
        SECRET,
    )
    assert denied.exit_code == 1
    # Kibana's message (the missing role is in the server log, not in the answer)
    assert error_line(denied) == 'error: Unauthorized to create a ".gen-ai" action'
    no_usage = run(service, reader, "usage", "-s", "cli-forbidden")
    assert no_usage.exit_code == 1
    assert error_line(no_usage) == "error: Unauthorized to get usage"


# --- connectors --------------------------------------------------------------------------
def test_connector_lifecycle(
    service: Service, admin_key: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    space = "cli-crud"
    connector_id = create(service, admin_key, space, upstream)

    listed = ok(run(service, admin_key, "connectors", "list", "-s", space))
    assert connector_id in listed.stdout and "Local model" in listed.stdout
    as_json = json.loads(
        ok(run(service, admin_key, "connectors", "list", "-s", space, "--json")).stdout
    )
    assert [c["id"] for c in as_json] == [connector_id]

    shown = ok(run(service, admin_key, "connectors", "get", connector_id, "-s", space))
    assert "local-model" in shown.stdout and upstream.url() in shown.stdout
    view = json.loads(
        ok(run(service, admin_key, "connectors", "get", connector_id, "-s", space, "--json")).stdout
    )
    assert view["config"]["apiProvider"] == "Other" and view["is_missing_secrets"] is False

    # update asks for the key again (secrets are replaced); the prompt does not echo it
    updated = ok(
        run(
            service,
            admin_key,
            "connectors",
            "update",
            connector_id,
            "-s",
            space,
            "--name",
            "Renamed",
            input=OTHER_SECRET + "\n",
        )
    )
    assert "updated connector" in updated.stdout and "****0099" in updated.stdout
    view = json.loads(
        ok(run(service, admin_key, "connectors", "get", connector_id, "-s", space, "--json")).stdout
    )
    assert view["name"] == "Renamed" and view["config"]["defaultModel"] == "local-model"

    # `get --json` output edited and sent back as --file
    view["config"]["defaultModel"] = "other-model"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(view))
    ok(
        run(
            service,
            admin_key,
            "connectors",
            "update",
            connector_id,
            "-s",
            space,
            "--file",
            str(edited),
            LLMRELAY_CONNECTOR_API_KEY=SECRET,
        )
    )
    view = json.loads(
        ok(run(service, admin_key, "connectors", "get", connector_id, "-s", space, "--json")).stdout
    )
    assert view["config"]["defaultModel"] == "other-model" and view["name"] == "Renamed"

    # delete: no way to answer is a usage error, "no" keeps it, "yes" or --yes deletes
    unanswered = run(service, admin_key, "connectors", "delete", connector_id, "-s", space)
    assert unanswered.exit_code == 2 and "--yes" in error_line(unanswered)
    declined = run(
        service, admin_key, "connectors", "delete", connector_id, "-s", space, input="n\n"
    )
    assert declined.exit_code == 1 and "not deleted" in error_line(declined)
    ok(run(service, admin_key, "connectors", "get", connector_id, "-s", space))
    confirmed = ok(
        run(service, admin_key, "connectors", "delete", connector_id, "-s", space, input="y\n")
    )
    assert f"deleted connector {connector_id}" in confirmed.stdout
    gone = run(service, admin_key, "connectors", "get", connector_id, "-s", space)
    assert gone.exit_code == 1
    assert error_line(gone) == f"error: Saved object [action/{connector_id}] not found (404)"
    again = run(service, admin_key, "connectors", "delete", connector_id, "-s", space, "--yes")
    assert again.exit_code == 1 and "not found" in error_line(again)
    empty = ok(run(service, admin_key, "connectors", "list", "-s", space, "--json"))
    assert json.loads(empty.stdout) == []


def test_create_from_a_kibana_file_with_a_chosen_id(
    service: Service, admin_key: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    body = tmp_path / "connector.json"
    body.write_text(
        json.dumps(
            {
                "name": "From file",
                "connector_type_id": ".gen-ai",
                "config": {"apiProvider": "OpenAI", "apiUrl": upstream.url()},
                "secrets": {"apiKey": SECRET},
            }
        )
    )
    made = ok(
        run(
            service,
            admin_key,
            "connectors",
            "create",
            "-s",
            "cli-file",
            "--file",
            str(body),
            "--id",
            "my-openai",
            "--default-model",
            "gpt-test",
        )
    )
    assert "created connector my-openai" in made.stdout and "****0042" in made.stdout
    view = json.loads(
        ok(
            run(service, admin_key, "connectors", "get", "my-openai", "-s", "cli-file", "--json")
        ).stdout
    )
    assert view["name"] == "From file" and view["config"]["defaultModel"] == "gpt-test"
    conflict = run(
        service,
        admin_key,
        "connectors",
        "create",
        "-s",
        "cli-file",
        "-f",
        str(body),
        "--id",
        "my-openai",
    )
    assert conflict.exit_code == 1 and "my-openai" in error_line(conflict)


def test_create_prompts_for_the_key_and_rejects_bad_input(
    service: Service, admin_key: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    flags = ["connectors", "create", "-s", "cli-input", "--name", "Prompted"]
    flags += ["--provider", "other", "--url", upstream.url(), "--default-model", "m", "--json"]
    prompted = ok(run(service, admin_key, *flags, input=SECRET + "\n"))
    assert json.loads(prompted.stdout)["name"] == "Prompted"
    assert "Connector API key" in prompted.stderr

    no_key = run(service, admin_key, *flags)  # stdin closed: no way to ask
    assert no_key.exit_code == 2 and "LLMRELAY_CONNECTOR_API_KEY" in error_line(no_key)
    missing = run(service, admin_key, "connectors", "create", "--provider", "other")
    assert missing.exit_code == 2 and error_line(missing) == (
        "error: missing --name, --url (give flags or a --file)"
    )
    bad_provider = run(service, admin_key, "connectors", "create", "--provider", "acme")
    assert bad_provider.exit_code == 2
    not_json = tmp_path / "broken.json"
    not_json.write_text("{name: ")
    broken = run(service, admin_key, "connectors", "create", "--file", str(not_json))
    assert broken.exit_code == 2 and "is not valid JSON" in error_line(broken)
    absent = run(service, admin_key, "connectors", "create", "--file", str(tmp_path / "nope.json"))
    assert absent.exit_code == 2 and "cannot read connector file" in error_line(absent)
    invalid = run(
        service,
        admin_key,
        "connectors",
        "create",
        "--name",
        "x",
        "--provider",
        "other",
        "--url",
        "not a url",
        "--api-key",
        SECRET,
    )
    assert invalid.exit_code == 1 and "(400)" in error_line(invalid)


# --- test --------------------------------------------------------------------------------
def test_test_shows_status_duration_tokens_and_answer(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    connector_id = create(service, admin_key, "cli-test", upstream)
    shown = ok(run(service, admin_key, "connectors", "test", connector_id, "-s", "cli-test"))
    sent = json.loads(upstream.last_request.body)
    assert sent["model"] == "local-model"  # the seed body; the provider adds "stream": false
    assert sent["messages"] == [{"role": "user", "content": "Hello world"}]
    assert "status" in shown.stdout and " ms" in shown.stdout
    assert "2 prompt + 4 completion = 6" in shown.stdout
    assert "You said: Hello world" in shown.stdout

    body = json.dumps({"messages": [{"role": "user", "content": "ping"}]})
    summary = json.loads(
        ok(
            run(
                service,
                admin_key,
                "connectors",
                "test",
                connector_id,
                "-s",
                "cli-test",
                "--body",
                body,
                "--json",
            )
        ).stdout
    )
    assert summary["status"] == "ok" and summary["answer"] == "You said: ping"
    assert summary["usage"]["total_tokens"] == 4 and summary["duration_ms"] > 0
    assert summary["response"]["status"] == "ok"

    upstream.fail(422, "The model `local-model` does not exist")
    failed = run(service, admin_key, "connectors", "test", connector_id, "-s", "cli-test")
    assert failed.exit_code == 1
    assert error_line(failed) == (
        "error: an error occurred while running the action: Status code: 422. Message: API "
        "Error: Unprocessable Entity - The model `local-model` does not exist"
    )
    upstream.fail(500, "boom")
    failed_json = run(
        service, admin_key, "connectors", "test", connector_id, "-s", "cli-test", "--json"
    )
    assert failed_json.exit_code == 1 and json.loads(failed_json.stdout)["status"] == "error"

    bad_body = run(service, admin_key, "connectors", "test", connector_id, "--body", "[1, 2]")
    assert bad_body.exit_code == 2 and "--body must be a JSON object" in error_line(bad_body)
    missing = run(service, admin_key, "connectors", "test", "no-such-connector")
    assert missing.exit_code == 1 and "not found (404)" in error_line(missing)


def test_test_stream_prints_tokens_as_they_come(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    connector_id = create(service, admin_key, "cli-stream", upstream, provider="OpenAI")
    streamed = ok(
        run(service, admin_key, "connectors", "test", connector_id, "-s", "cli-stream", "--stream")
    )
    assert streamed.stdout == "You said: Hello world\n"
    assert json.loads(upstream.last_request.body)["stream"] is True
    assert "status ok" in streamed.stderr
    assert "2 prompt + 4 completion = 6" in streamed.stderr

    upstream.stream(["one", " two", " three"], usage=False, chunk_delay=0.01)
    as_json = ok(
        run(
            service,
            admin_key,
            "connectors",
            "test",
            connector_id,
            "-s",
            "cli-stream",
            "--stream",
            "--json",
        )
    )
    summary = json.loads(as_json.stdout)
    assert summary["answer"] == "one two three" and summary["usage"] is None
    assert summary["sub_action"] == "invokeStream" and summary["status"] == "ok"

    upstream.fail(500, "stream refused")
    refused = run(
        service, admin_key, "connectors", "test", connector_id, "-s", "cli-stream", "--stream"
    )
    assert refused.exit_code == 1 and "stream refused" in error_line(refused)

    upstream.stream(["a", " b", " c", " d"], reset_after=3)
    broken = run(
        service, admin_key, "connectors", "test", connector_id, "-s", "cli-stream", "--stream"
    )
    assert broken.exit_code == 1
    assert error_line(broken).startswith("error: the stream broke off: ")
    assert broken.stdout.startswith("a b") and "status error" in broken.stderr


# --- events and usage --------------------------------------------------------------------
def test_events_and_usage_tables_and_json(
    service: Service, admin_key: str, upstream: FakeUpstream
) -> None:
    space = "cli-usage"
    first = create(service, admin_key, space, upstream, name="First")
    second = create(service, admin_key, space, upstream, name="Second")
    ok(run(service, admin_key, "connectors", "test", first, "-s", space))
    upstream.fail(422, "nope")
    run(service, admin_key, "connectors", "test", first, "-s", space)
    ok(run(service, admin_key, "connectors", "test", second, "-s", space))

    docs = wait_events(service, admin_key, space, first, 2)
    assert [d["event"]["outcome"] for d in docs] == ["failure", "success"]
    wait_events(service, admin_key, space, second, 1)

    table = ok(run(service, admin_key, "events", "-s", space, "--connector", first)).stdout
    for header in ("time", "outcome", "sub-action", "user", "model", "tokens", "usage_source"):
        assert header in table
    assert "failure" in table and "success" in table and "admin" in table
    assert "6 (2+4)" in table and "response" in table and " ms" in table

    merged = ok(run(service, admin_key, "events", "-s", space)).stdout
    assert "connector" in merged and "First" in merged and "Second" in merged
    limited = json.loads(
        ok(run(service, admin_key, "events", "-s", space, "-n", "1", "--json")).stdout
    )
    assert len(limited) == 1 and limited[0]["kibana"]["action"]["name"] == "Second"
    nothing = ok(run(service, admin_key, "events", "-s", "cli-empty"))
    assert "no executions" in nothing.stderr

    report = json.loads(
        ok(run(service, admin_key, "usage", "-s", space, "--by", "connector", "--json")).stdout
    )
    assert report["group_by"] == "connector" and report["interval"] == "hour"
    assert report["totals"]["executions"] == 3 and report["totals"]["failures"] == 1
    assert {b["key"] for b in report["buckets"]} == {first, second}
    only = json.loads(
        ok(
            run(
                service,
                admin_key,
                "usage",
                "-s",
                space,
                "--connector",
                second,
                "--since",
                "2h",
                "--json",
            )
        ).stdout
    )
    assert only["totals"]["executions"] == 1 and only["interval"] == "minute"

    shown = ok(run(service, admin_key, "usage", "-s", space, "--by", "model", "--interval", "day"))
    assert "local-model" in shown.stdout and "total" in shown.stdout and "per day" in shown.stdout

    bad_since = run(service, admin_key, "usage", "--since", "yesterday")
    assert bad_since.exit_code == 2 and "--since" in error_line(bad_since)
    inverted = run(service, admin_key, "usage", "--since", "1h", "--until", "2h")
    assert inverted.exit_code == 1 and "[start]: must be before [end] (400)" in error_line(inverted)
