"""``llmrelay connectors create|update|get --type route`` against a running service: flags
or a JSON file, no secret prompt, the server's refusals as one error line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from llmrelay.cli.main import app
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.routes.conftest import ROUTE, gen_ai

runner = CliRunner()


def cli(service: Service, *args: str) -> Result:
    key = service.api_key(["admin"], owner="admin")["Authorization"].split(" ", 1)[1]
    result = runner.invoke(
        app, list(args), env={"LLMRELAY_URL": service.url, "LLMRELAY_API_KEY": key}
    )
    assert "Traceback" not in result.output, result.output
    return result


def test_create_update_and_show_a_route_with_flags(
    route_service: Service, client: httpx.Client, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream.url(), "b")
    made = cli(
        route_service,
        "connectors", "create", "--type", "route", "--name", "Two regions",
        "--target", f"{a}:3", "--target", b, "--fallback", a, "--retries", "2", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    view = json.loads(made.stdout)
    assert view["connector_type_id"] == ROUTE
    assert view["config"]["targets"] == [
        {"connectorId": a, "weight": 3},
        {"connectorId": b, "weight": 1},
    ]
    assert view["config"]["fallbacks"] == [a] and view["config"]["retries"] == 2
    changed = cli(
        route_service, "connectors", "update", view["id"], "--cooldown-seconds", "5", "--json"
    )
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["config"]["cooldownSeconds"] == 5
    assert json.loads(changed.stdout)["config"]["retries"] == 2  # the rest kept
    shown = cli(route_service, "connectors", "get", view["id"])
    assert shown.exit_code == 0, shown.output
    assert f"{a} (weight 3)" in shown.stdout and "cooldown seconds" in shown.stdout


def test_create_a_route_from_a_file(
    route_service: Service, client: httpx.Client, upstream: FakeUpstream, tmp_path: Path
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    body = tmp_path / "route.json"
    body.write_text(
        json.dumps(
            {
                "name": "From file",
                "connector_type_id": ROUTE,
                "config": {"targets": [{"connectorId": a, "weight": 1}]},
            }
        )
    )
    made = cli(route_service, "connectors", "create", "--file", str(body), "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["config"]["targets"][0]["connectorId"] == a


def test_refusals_are_one_line(route_service: Service) -> None:
    no_target = cli(route_service, "connectors", "create", "--type", "route", "--name", "x")
    assert no_target.exit_code != 0
    assert "missing --target" in no_target.output
    bad_weight = cli(
        route_service, "connectors", "create", "--type", "route", "--name", "x", "--target", "a:b"
    )
    assert bad_weight.exit_code != 0
    assert "the weight after ':' must be a whole number" in bad_weight.output
    unknown = cli(
        route_service, "connectors", "create", "--type", "route", "--name", "x", "--target", "nope"
    )
    assert unknown.exit_code != 0
    assert 'no connector "nope" in this space' in unknown.output
