"""Every endpoint x role x space (issue 7 §2, "Access"), table-driven.

The endpoints come from the OpenAPI document the service serves, so a route added there
without a row here fails ``test_every_documented_route_has_a_rule``. The ``/v1`` gateway
is also mounted under ``/s/{space_id}/v1`` (not in the document); those run here too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from llmrelay.web.openapi import openapi_document
from tests.fixtures.service import Service
from tests.reliability.conftest import MESSAGES, XSRF, make_connector

pytestmark = pytest.mark.network

SPACE = "access-team"
OTHER_SPACE = "access-elsewhere"
PUBLIC = "public"
ADMIN_ALL = "admin"  # users and API keys are global: the admin role in all spaces (*)
ANY = "authenticated"

# (method, path without the /s/{space_id} prefix) -> the privilege it needs
RULES: dict[tuple[str, str], str] = {
    ("GET", "/api/actions/connectors"): "connectors.read",
    ("GET", "/api/actions/connector_types"): ANY,
    ("POST", "/api/actions/connector"): "connectors.write",
    ("GET", "/api/actions/connector/{id}"): "connectors.read",
    ("POST", "/api/actions/connector/{id}"): "connectors.write",
    ("PUT", "/api/actions/connector/{id}"): "connectors.write",
    ("DELETE", "/api/actions/connector/{id}"): "connectors.write",
    ("POST", "/api/actions/connector/{id}/_execute"): "connectors.execute",
    ("GET", "/api/event_log/connector/{id}/_find"): "usage.read",
    ("GET", "/api/llmrelay/usage"): "usage.read",
    ("GET", "/api/llmrelay/limits"): "admin",
    ("POST", "/api/llmrelay/limits"): "admin",
    ("GET", "/api/llmrelay/limits/{id}"): "admin",
    ("PUT", "/api/llmrelay/limits/{id}"): "admin",
    ("DELETE", "/api/llmrelay/limits/{id}"): "admin",
    ("GET", "/api/llmrelay/preconfigured_connectors"): "connectors.read",
    ("GET", "/api/llmrelay/users"): ADMIN_ALL,
    ("POST", "/api/llmrelay/users"): ADMIN_ALL,
    ("DELETE", "/api/llmrelay/users/{name}"): ADMIN_ALL,
    ("PUT", "/api/llmrelay/users/{name}/roles"): ADMIN_ALL,
    ("PUT", "/api/llmrelay/users/{name}/password"): ADMIN_ALL,
    ("GET", "/api/llmrelay/api_keys"): ADMIN_ALL,
    ("POST", "/api/llmrelay/api_keys"): ADMIN_ALL,
    ("DELETE", "/api/llmrelay/api_keys/{id}"): ADMIN_ALL,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/status"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/chat/completions"): "connectors.execute",
    ("POST", "/v1/embeddings"): "connectors.execute",
    ("POST", "/v1/completions"): "connectors.execute",
    ("POST", "/v1/responses"): "connectors.execute",
    ("GET", "/v1/models"): "connectors.execute",
    ("GET", "/v1/models/{model}"): "connectors.execute",
}
# a privileged call on a connector id that does not exist: 404 (the check passed)
MISSING_ID = {
    ("PUT", "/api/actions/connector/{id}"),
    ("DELETE", "/api/actions/connector/{id}"),
    ("GET", "/api/llmrelay/limits/{id}"),
    ("PUT", "/api/llmrelay/limits/{id}"),
    ("DELETE", "/api/llmrelay/limits/{id}"),
    ("DELETE", "/api/llmrelay/users/{name}"),
    ("PUT", "/api/llmrelay/users/{name}/roles"),
    ("PUT", "/api/llmrelay/users/{name}/password"),
    ("DELETE", "/api/llmrelay/api_keys/{id}"),
}

ROLES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "connectors_read": frozenset({"connectors.read", "connectors.execute"}),
    "connectors_all": frozenset({"connectors.read", "connectors.write", "connectors.execute"}),
    "usage_read": frozenset({"usage.read"}),
    "admin": frozenset(
        {"connectors.read", "connectors.write", "connectors.execute", "usage.read", "admin"}
    ),
    "key_in_other_space": frozenset(),  # an admin API key, granted in OTHER_SPACE only
}


def _operations() -> list[tuple[str, str]]:
    ops = []
    for path, methods in openapi_document("test")["paths"].items():
        for method in methods:
            ops.append((method.upper(), path))
            if path.startswith("/v1"):
                ops.append((method.upper(), "/s/{space_id}" + path))
    return ops


def _rule_key(method: str, path: str) -> tuple[str, str]:
    return method, path.removeprefix("/s/{space_id}")


OPERATIONS = _operations()


def test_every_documented_route_has_a_rule() -> None:
    documented = {_rule_key(m, p) for m, p in OPERATIONS}
    assert documented == set(RULES), (documented - set(RULES), set(RULES) - documented)


def expected_class(method: str, path: str, role: str) -> str:
    """The status class a role must get: 2xx, 401, 403 or 404."""
    need = RULES[_rule_key(method, path)]
    if need == PUBLIC:
        return "2xx"
    if role == "none":
        return "401"
    if need == ANY:
        return "2xx"
    if need not in ROLES[role]:
        return "403"
    return "404" if _rule_key(method, path) in MISSING_ID else "2xx"


@dataclass
class World:
    service: Service
    clients: dict[str, httpx.Client]  # role -> a client sending its credentials
    connectors: dict[str, str]  # space -> an existing connector id


@pytest.fixture(scope="module")
def world(fault_service: Service, upstream_server: FakeUpstream) -> Iterator[World]:
    """Roles as API keys granted in every space (scrypt-hashed users cost ~1 s each to
    verify), ``admin`` as the Basic-authenticated admin user, and the other-space key."""
    svc = fault_service
    headers: dict[str, dict[str, str]] = {"none": {}, "admin": svc.admin}
    for role in ("connectors_read", "connectors_all", "usage_read"):
        headers[role] = svc.api_key([role], ["*"])
    headers["key_in_other_space"] = svc.api_key(["admin"], [OTHER_SPACE])
    connectors = {}
    for space, base in (("default", ""), (SPACE, f"/s/{SPACE}")):
        with svc.client(svc.admin, base=base) as client:
            connectors[space] = make_connector(client, upstream_server.url(), name="access")
    clients = {role: svc.client({**h, **XSRF}) for role, h in headers.items()}
    try:
        yield World(svc, clients, connectors)
    finally:
        for client in clients.values():
            client.close()


def _request(world: World, method: str, path: str, role: str) -> httpx.Response:
    space = SPACE if path.startswith("/s/") else "default"
    key = _rule_key(method, path)
    existing = world.connectors[space]
    target = f"missing-{uuid.uuid4().hex}" if key in MISSING_ID else existing
    if key == ("POST", "/api/actions/connector/{id}"):
        target = f"acc-{uuid.uuid4().hex}"
    url = (
        path.replace("{space_id}", SPACE)
        .replace("{id}", target)
        .replace("{model}", existing)
        .replace("{name}", target)
    )
    body: Any = None
    if key in (("POST", "/api/actions/connector"), ("POST", "/api/actions/connector/{id}")):
        body = {
            "name": "access-made",
            "connector_type_id": ".gen-ai",
            "config": {
                "apiProvider": "Other",
                "apiUrl": "http://127.0.0.1:9/v1",
                "defaultModel": "m",
            },
            "secrets": {"apiKey": "sk-access-table-secret"},
        }
    elif key == ("PUT", "/api/actions/connector/{id}"):
        body = {
            "name": "access-renamed",
            "config": {
                "apiProvider": "Other",
                "apiUrl": "http://127.0.0.1:9/v1",
                "defaultModel": "m",
            },
            "secrets": {"apiKey": "sk-access-table-secret"},
        }
    elif key == ("POST", "/api/actions/connector/{id}/_execute"):
        body = {
            "params": {
                "subAction": "run",
                "subActionParams": {"body": json.dumps({"messages": MESSAGES})},
            }
        }
    elif key in (("POST", "/api/llmrelay/limits"), ("PUT", "/api/llmrelay/limits/{id}")):
        body = {"name": "access", "scope": {"user": "nobody"}, "requests_per_minute": 1000}
    elif key == ("POST", "/api/llmrelay/users"):
        body = {"name": f"acc-{uuid.uuid4().hex}", "password": "pw", "roles": ["usage_read"]}
    elif key == ("POST", "/api/llmrelay/api_keys"):
        body = {"name": "access-table", "roles": ["usage_read"]}
    elif key in (("PUT", "/api/llmrelay/users/{name}/roles"),):
        body = {"roles": ["usage_read"]}
    elif key in (("PUT", "/api/llmrelay/users/{name}/password"),):
        body = {"password": "pw"}
    elif key == ("POST", "/v1/chat/completions"):
        body = {"model": existing, "messages": MESSAGES}
    elif key == ("POST", "/v1/embeddings"):
        body = {"model": existing, "input": "access table"}
    elif key == ("POST", "/v1/completions"):
        body = {"model": existing, "prompt": "access table"}
    elif key == ("POST", "/v1/responses"):
        body = {"model": existing, "input": "access table"}
    return world.clients[role].request(method, url, json=body)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_endpoint_by_role_and_space(world: World, method: str, path: str) -> None:
    failures = []
    for role in ROLES:
        response = _request(world, method, path, role)
        want = expected_class(method, path, role)
        got = f"{response.status_code // 100}xx" if want == "2xx" else str(response.status_code)
        if got != want:
            failures.append(
                f"{role}: expected {want}, got {response.status_code} {response.text[:200]}"
            )
        assert "sk-access-table-secret" not in response.text
    assert not failures, "\n".join(failures)
