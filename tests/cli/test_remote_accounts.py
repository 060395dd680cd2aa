"""``llmrelay users|api-keys`` against a running llmrelay (``LLMRELAY_URL``), and connectors
named by their name as well as their id (an ambiguous name lists the matches)."""

from __future__ import annotations

import json

import pytest

from llmrelay.testing import FakeUpstream
from tests.cli.test_remote_cli import SECRET, create, error_line, ok, run
from tests.fixtures.service import Service


@pytest.fixture
def admin_key(service: Service) -> str:
    return service.api_key(["admin"], owner="admin")["Authorization"].split(" ", 1)[1]


def test_users_remotely(service: Service, admin_key: str) -> None:
    made = ok(
        run(
            service,
            admin_key,
            "users",
            "create",
            "remote-rita",
            "--password",
            "rita-pass-1",
            "--roles",
            "usage_read",
        )
    )
    assert "created user remote-rita (usage_read@*)" in made.stdout
    listed = json.loads(ok(run(service, admin_key, "users", "list", "--json")).stdout)
    assert {"name": "remote-rita", "grants": [{"role": "usage_read", "space": "*"}]} in listed
    roles = ok(
        run(
            service,
            admin_key,
            "users",
            "set-roles",
            "remote-rita",
            "--roles",
            "connectors_read",
            "--spaces",
            "team-r",
        )
    )
    assert "roles of remote-rita: connectors_read@team-r" in roles.stdout
    ok(run(service, admin_key, "users", "set-password", "remote-rita", "--password", "rita-2"))
    with service.client() as client:
        auth = ("remote-rita", "rita-2")
        assert client.get("/s/team-r/api/actions/connectors", auth=auth).status_code == 200
    ok(run(service, admin_key, "users", "delete", "remote-rita"))
    gone = run(service, admin_key, "users", "delete", "remote-rita")
    assert gone.exit_code == 1 and "not found (404)" in error_line(gone)


def test_api_keys_remotely(service: Service, admin_key: str) -> None:
    made = ok(run(service, admin_key, "api-keys", "create", "--name", "remote-ci", "--spaces", "x"))
    encoded = made.stdout.strip().splitlines()[-1]
    keys = json.loads(ok(run(service, admin_key, "api-keys", "list", "--json")).stdout)
    mine = [k for k in keys if k["name"] == "remote-ci"]
    assert len(mine) == 1 and encoded not in json.dumps(keys)
    with service.client({"Authorization": f"ApiKey {encoded}"}) as client:
        assert client.get("/s/x/api/actions/connectors").status_code == 200
    ok(run(service, admin_key, "api-keys", "delete", mine[0]["id"]))
    with service.client({"Authorization": f"ApiKey {encoded}"}) as client:
        assert client.get("/s/x/api/actions/connectors").status_code == 401

    # a key that is not an admin of all spaces is refused with the server's words
    space_admin = service.api_key(["admin"], ["x"])["Authorization"].split(" ", 1)[1]
    refused = run(service, space_admin, "api-keys", "list")
    assert refused.exit_code == 1
    assert "needs the admin role in all spaces" in error_line(refused)


def test_connectors_by_name(service: Service, admin_key: str, upstream: FakeUpstream) -> None:
    space = "cli-names"
    first = create(service, admin_key, space, upstream, name="Shared name")
    second = create(service, admin_key, space, upstream, name="Shared name")
    unique = create(service, admin_key, space, upstream, name="Only one")
    got = json.loads(
        ok(run(service, admin_key, "connectors", "get", "Only one", "-s", space, "--json")).stdout
    )
    assert got["id"] == unique
    by_case = ok(run(service, admin_key, "connectors", "get", "only ONE", "-s", space, "--json"))
    assert json.loads(by_case.stdout)["id"] == unique
    tested = ok(run(service, admin_key, "connectors", "test", "Only one", "-s", space, "--json"))
    assert json.loads(tested.stdout)["connector_id"] == unique

    ambiguous = run(service, admin_key, "connectors", "get", "Shared name", "-s", space)
    assert ambiguous.exit_code == 2
    line = error_line(ambiguous)
    assert line.startswith('error: 2 connectors are named "Shared name" in space cli-names: ')
    assert first in line and second in line and line.endswith("give the id instead")

    deleted = ok(run(service, admin_key, "connectors", "delete", "Only one", "-s", space, "--yes"))
    assert f"deleted connector {unique}" in deleted.stdout
    assert SECRET not in deleted.stdout
