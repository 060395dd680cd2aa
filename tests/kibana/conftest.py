"""Kibana's own tests for the actions API and the OpenAI connector, ported to llmrelay.

Kibana runs its API integration tests (``x-pack/platform/test/alerting_api_integration``)
once per "user at space" scenario and expects, per scenario, either the answer or a 403.
Here the scenarios are llmrelay users whose roles give the same privileges:

=====================================  ======================================================
Kibana scenario                        llmrelay user (roles @ spaces), acting in
=====================================  ======================================================
superuser at space1                    ``admin`` @ every space, in space1
space_1_all at space1                  ``connectors_all`` @ space1, in space1
space_1_all at space2                  the same user, in space2 (no privilege there)
global_read at space1                  ``connectors_read`` @ every space, in space1
space_1_all_alerts_none_actions        ``usage_read`` @ space1 (privileges, none for
                                       connectors), in space1
no_kibana_privileges at space1         no role at all, in space1
=====================================  ======================================================

One service per module (SQLite, then PostgreSQL) with these users, a preconfigured
connector (Kibana's ``my-slack1`` stand-in) and an allow-list of the loopback names (so
Kibana's not-allowed-host case can be asked). Kibana validates a body before checking
privileges; llmrelay checks privileges first (docs/deviations.md), so where Kibana answers
a 400 to everyone, scenarios without the privilege get the 403 here.

``connectors`` (module-scoped) holds one connector per provider set up as Kibana's
``openai.test.ts`` sets them up (custom headers, key ``123``), for the request tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from llmrelay.testing import FakeUpstream, RecordedRequest
from tests.fixtures.service import Service, basic, make_settings, start_service

if TYPE_CHECKING:
    from tests.fixtures.postgres import PostgresCluster

XSRF = {"kbn-xsrf": "foo"}
TYPE_ID = ".gen-ai"
NAME = "My Connector"
API_KEY = "genAiApiKey"
PRECONFIGURED_ID = "my-gen-ai"
PRECONFIGURED_NAME = "Preconfigured OpenAI"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "api.openai.com"]
SIMULATOR_PATH = "/api/_actions-FTS-external-service-simulators/openai"


@dataclass(frozen=True)
class Scenario:
    """A Kibana "user at space" scenario: who, where, and what they may do there."""

    id: str
    user: str
    roles: tuple[str, ...]
    grants: tuple[str, ...]  # the spaces the roles are granted in
    space: str  # the space the requests go to
    read: bool  # get, list and execute connectors
    write: bool  # create, update, delete
    usage: bool  # event log and usage

    @property
    def password(self) -> str:
        return f"{self.user}-password"


SCENARIOS = (
    Scenario("superuser at space1", "superuser", ("admin",), ("*",), "space1", True, True, True),
    Scenario(
        "connectors_all at space1",
        "space_1_all",
        ("connectors_all",),
        ("space1",),
        "space1",
        True,
        True,
        False,
    ),
    Scenario(
        "connectors_all at space2",
        "space_1_all",
        ("connectors_all",),
        ("space1",),
        "space2",
        False,
        False,
        False,
    ),
    Scenario(
        "connectors_read at space1",
        "global_read",
        ("connectors_read",),
        ("*",),
        "space1",
        True,
        False,
        False,
    ),
    Scenario(
        "usage_read at space1",
        "usage_only",
        ("usage_read",),
        ("space1",),
        "space1",
        False,
        False,
        True,
    ),
    Scenario("no roles at space1", "nobody", (), ("*",), "space1", False, False, False),
)


def scenarios() -> pytest.MarkDecorator:
    """``@scenarios()``: run a test once per scenario, named after it."""
    return pytest.mark.parametrize(
        "scenario", SCENARIOS, ids=[s.id.replace(" ", "_") for s in SCENARIOS]
    )


def prefix(space: str) -> str:
    """Kibana's ``getUrlPrefix``: nothing for the default space, ``/s/<space>`` otherwise."""
    return "" if space == "default" else f"/s/{space}"


def forbidden(message: str) -> dict[str, object]:
    return {"statusCode": 403, "error": "Forbidden", "message": message}


def bad_request(message: str) -> dict[str, object]:
    return {"statusCode": 400, "error": "Bad Request", "message": message}


def not_found(message: str) -> dict[str, object]:
    return {"statusCode": 404, "error": "Not Found", "message": message}


def openai_body(url: str, name: str = NAME, **config: object) -> dict[str, Any]:
    return {
        "name": name,
        "connector_type_id": TYPE_ID,
        "config": {"apiProvider": "OpenAI", "apiUrl": url, **config},
        "secrets": {"apiKey": API_KEY},
    }


def connector_response(connector_id: str, name: str, config: dict[str, object]) -> dict[str, Any]:
    """What create, get and update answer for a saved ``.gen-ai`` connector."""
    return {
        "id": connector_id,
        "name": name,
        "connector_type_id": TYPE_ID,
        "config": config,
        "is_preconfigured": False,
        "is_deprecated": False,
        "is_missing_secrets": False,
        "is_system_action": False,
        "is_connector_type_deprecated": False,
    }


@dataclass
class Kibana:
    """The service under test, its scenario users, and the admin's helpers."""

    service: Service
    simulator_url: str  # where the connectors created by ``create`` point (FakeUpstream)

    def client(self, scenario: Scenario, space: str | None = None) -> httpx.Client:
        """The scenario's user, requests going to its space (or ``space``)."""
        headers = basic(scenario.user, scenario.password)
        return self.service.client(headers, base=prefix(space or scenario.space))

    def admin(self, space: str = "default") -> httpx.Client:
        return self.service.client(self.service.admin, base=prefix(space))

    def create(self, space: str, url: str | None = None, name: str = NAME) -> str:
        """A connector created by the admin (Kibana's ``supertest`` as superuser)."""
        with self.admin(space) as client:
            response = client.post(
                "/api/actions/connector",
                json=openai_body(url or self.simulator_url, name),
                headers=XSRF,
            )
        assert response.status_code == 200, response.text
        connector_id: str = response.json()["id"]
        return connector_id

    def api_key(self, name: str, roles: list[str], owner: str | None = None) -> tuple[str, str]:
        """A named API key: its id (as ``llmrelay api-keys list`` shows it) and its
        ``Authorization`` header."""

        record, encoded = self.service.access_call(
            lambda a: a.create_api_key(name=name, owner=owner, roles=roles, spaces=["*"])
        )
        assert base64.b64decode(encoded).decode().split(":")[0] == record.id
        return record.id, f"ApiKey {encoded}"


def _preconfigured(url: str) -> dict[str, object]:
    return {
        PRECONFIGURED_ID: {
            "name": PRECONFIGURED_NAME,
            "actionTypeId": TYPE_ID,
            "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "local-model"},
            "secrets": {"apiKey": "preconfigured-secret-key"},
        }
    }


def _start(home: Any, upstream: FakeUpstream, **overrides: object) -> Service:
    settings = make_settings(
        home,
        **{
            "xpack.actions.preconfigured": _preconfigured(upstream.url()),
            "xpack.actions.allowedHosts": ALLOWED_HOSTS,
            **overrides,
        },
    )
    service = start_service(settings)
    made: set[str] = set()
    for scenario in SCENARIOS:
        if scenario.user not in made:  # its password is Scenario.password
            service.user(scenario.user, list(scenario.roles), list(scenario.grants))
            made.add(scenario.user)
    return service


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def kibana(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
) -> Iterator[Kibana]:
    """The module's service with the scenario users, once per store backend."""
    home = tmp_path_factory.mktemp("kibana-home")
    simulator = upstream_server.url(SIMULATOR_PATH)
    if request.param == "sqlite":
        service = _start(home, upstream_server)
        try:
            yield Kibana(service, simulator)
        finally:
            service.thread.stop()
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.acquire()
    try:
        service = _start(home, upstream_server, database_url=cluster.url(database))
        try:
            yield Kibana(service, simulator)
        finally:
            service.thread.stop()
    finally:
        cluster.release(database)


# --- one connector per provider, as Kibana's openai.test.ts builds them ---------------
M = '[{"role":"user","content":"Hello world"}]'
MESSAGES = [{"role": "user", "content": "Hello world"}]
SAMPLE = {"messages": MESSAGES}
OTHER_SAMPLE = {"model": "local-model", "messages": MESSAGES}
CUSTOM_HEADERS = {"X-My-Custom-Header": "foo", "Authorization": "override"}
USAGE_CHUNK = '"stream_options":{"include_usage":true}'


@dataclass(frozen=True)
class Connectors:
    openai: str
    openai_org: str
    openai_plain: str
    other: str
    azure: str
    azure_url: str


@pytest.fixture(scope="module")
def connectors(kibana: Kibana, upstream_server: FakeUpstream) -> Iterator[Connectors]:
    url = upstream_server.url()
    azure_url = upstream_server.azure_url("NEW-DEPLOYMENT-321", "2023-05-15")
    configs = {
        "openai": {"apiProvider": "OpenAI", "apiUrl": url, "headers": CUSTOM_HEADERS},
        "openai_org": {
            "apiProvider": "OpenAI",
            "apiUrl": url,
            "organizationId": "org-id",
            "projectId": "proj-id",
            "headers": CUSTOM_HEADERS,
        },
        "openai_plain": {"apiProvider": "OpenAI", "apiUrl": url},
        "other": {
            "apiProvider": "Other",
            "apiUrl": url,
            "defaultModel": "local-model",
            "headers": CUSTOM_HEADERS,
        },
        "azure": {"apiProvider": "Azure OpenAI", "apiUrl": azure_url},
    }
    ids: dict[str, str] = {}
    with kibana.admin() as admin:
        for key, config in configs.items():
            body = {
                "name": key,
                "connector_type_id": TYPE_ID,
                "config": config,
                "secrets": {"apiKey": "123"},
            }
            response = admin.post("/api/actions/connector", json=body, headers=XSRF)
            assert response.status_code == 200, response.text
            ids[key] = response.json()["id"]
    yield Connectors(**ids, azure_url=azure_url)


def execute(kibana: Kibana, connector_id: str, sub_action: str, params: object) -> httpx.Response:
    with kibana.admin() as admin:
        response = admin.post(
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": {"subAction": sub_action, "subActionParams": params}},
            headers=XSRF,
        )
    assert response.status_code == 200
    return response


def sent(
    kibana: Kibana, upstream: FakeUpstream, connector_id: str, sub_action: str, params: object
) -> RecordedRequest:
    response = execute(kibana, connector_id, sub_action, params)
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["status"] == "ok", response.text
    (request,) = upstream.requests
    return request
