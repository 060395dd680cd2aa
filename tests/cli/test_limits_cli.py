"""``llmrelay limits list|create|update|delete`` against a real service: tables, ``--json``,
the server's 400 naming the field, admin only, and current use after executions."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from llmrelay.cli.main import app
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.limits.conftest import api, away_from_minute_end, connector, run_body

runner = CliRunner()


def run(service: Service, key: str, *args: str, input: str | None = None) -> Result:
    environ = {"LLMRELAY_URL": service.url, "LLMRELAY_API_KEY": key}
    result = runner.invoke(app, list(args), env=environ, input=input)
    assert "Traceback" not in result.output, result.output
    assert key not in result.output
    return result


def admin_key(service: Service) -> str:
    return service.api_key(["admin"])["Authorization"].split(" ", 1)[1]


def test_create_list_update_delete(service: Service, upstream: FakeUpstream) -> None:
    key = admin_key(service)
    space = "cli-limits"
    connector_id = connector(service, space, upstream.url())
    created = run(
        service,
        key,
        "limits",
        "create",
        "--space",
        space,
        "--name",
        "conn",
        "--scope",
        f"connector={connector_id}",
        "--tokens-per-day",
        "100000",
        "--requests-per-minute",
        "50",
        "--json",
    )
    assert created.exit_code == 0, created.output
    limit = json.loads(created.stdout)
    assert limit["scope"] == {"connector": connector_id}
    assert limit["requests_per_minute"] == 50 and limit["tokens_per_day"] == 100000
    away_from_minute_end()  # the request and the listing in one minute's window
    with api(service, space) as client:
        ran = client.post(f"/api/actions/connector/{connector_id}/_execute", json=run_body())
    tokens = ran.json()["data"]["usage"]["total_tokens"]

    listed = run(service, key, "limits", "list", "--space", space)
    assert listed.exit_code == 0, listed.output
    assert "conn" in listed.stdout and f"connector={connector_id}" in listed.stdout
    assert f"tokens_per_day: {tokens} / 100000" in listed.stdout
    assert "requests_per_minute: 1 / 50" in listed.stdout
    as_json = json.loads(run(service, key, "limits", "list", "--space", space, "--json").stdout)
    assert as_json[0]["current"]["tokens_today"] == tokens

    updated = run(
        service,
        key,
        "limits",
        "update",
        limit["id"],
        "--space",
        space,
        "--name",
        "renamed",
        "--cost-usd-per-month",
        "5",
        "--json",
    )
    assert updated.exit_code == 0, updated.output
    changed = json.loads(updated.stdout)
    assert changed["name"] == "renamed" and changed["cost_usd_per_month"] == 5
    assert changed["tokens_per_day"] == 100000  # kept from the current definition

    kept = run(service, key, "limits", "delete", limit["id"], "--space", space, input="n\n")
    assert kept.exit_code != 0
    deleted = run(service, key, "limits", "delete", limit["id"], "--space", space, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert f"deleted limit {limit['id']}" in deleted.stdout
    empty = run(service, key, "limits", "list", "--space", space)
    assert empty.exit_code == 0 and "no limits in space cli-limits" in empty.stderr


def test_errors_are_one_line(service: Service) -> None:
    key = admin_key(service)
    bad = run(
        service,
        key,
        "limits",
        "create",
        "--space",
        "cli-bad",
        "--name",
        "x",
        "--scope",
        "user=alice",
    )
    assert bad.exit_code != 0
    assert "At least one of requests_per_minute" in bad.stderr
    wrong_scope = run(service, key, "limits", "create", "--name", "x", "--scope", "team=a")
    assert wrong_scope.exit_code != 0 and "--scope: expected one of" in wrong_scope.stderr
    missing = run(service, key, "limits", "update", "nope", "--name", "y")
    assert missing.exit_code != 0 and "Limit [nope] not found" in missing.stderr
    reader = service.api_key(["connectors_read"])["Authorization"].split(" ", 1)[1]
    denied = run(service, reader, "limits", "list")
    assert denied.exit_code != 0 and "Unauthorized to get limits" in denied.stderr
