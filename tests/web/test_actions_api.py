"""The actions HTTP API over real HTTP (spec §5; checklist 1-20 via HTTP, 73-82, 90)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service, make_settings, start_service

XSRF = {"kbn-xsrf": "true"}
SECRET = "sk-very-secret-value-123"


def openai_body(url: str, **config: Any) -> dict[str, Any]:
    return {
        "name": "My OpenAI",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": url, **config},
        "secrets": {"apiKey": SECRET},
    }


def create(client: httpx.Client, body: dict[str, Any], path: str = "") -> httpx.Response:
    return client.post(f"{path}/api/actions/connector", json=body, headers=XSRF)


def test_requires_authentication(service: Service) -> None:
    with service.client() as client:
        response = client.get("/api/actions/connectors")
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_bad_password_is_401_without_hint(service: Service) -> None:
    with service.client({"Authorization": "Basic YWRtaW46d3Jvbmc="}) as client:
        response = client.get("/api/actions/connectors")
    assert response.status_code == 401


def test_1_create_fills_default_model_and_never_returns_secrets(service: Service) -> None:
    with service.client(service.admin) as client:
        response = create(client, openai_body("https://api.openai.com/v1/chat/completions"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"] == {
        "apiProvider": "OpenAI",
        "apiUrl": "https://api.openai.com/v1/chat/completions",
        "defaultModel": "gpt-4.1",
    }
    assert body["connector_type_id"] == ".gen-ai"
    assert body["is_preconfigured"] is False and body["is_missing_secrets"] is False
    assert "secrets" not in body and SECRET not in response.text


def test_2_create_keeps_default_model(service: Service) -> None:
    with service.client(service.admin) as client:
        body = openai_body(
            "https://api.openai.com/v1/chat/completions", defaultModel="gpt-3.5-turbo"
        )
        response = create(client, body)
    assert response.json()["config"]["defaultModel"] == "gpt-3.5-turbo"


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"apiProvider": "Other", "apiUrl": "http://localhost:1234/v1"}, "defaultModel"),
        ({"apiUrl": "https://api.openai.com/v1"}, "error validating connector type config:"),
        ({"apiProvider": "bad-one", "apiUrl": "https://x.test/v1"}, "apiProvider"),
        ({"apiProvider": "OpenAI"}, "apiUrl"),
        (
            {"apiProvider": "OpenAI", "apiUrl": "example.com/do-something"},
            "Error configuring OpenAI action: Error: URL Error: "
            "Invalid URL: example.com/do-something",
        ),
        ({"apiProvider": "OpenAI", "apiUrl": "ftp://example.com/x"}, "URL Error: Invalid protocol"),
        (
            {"apiProvider": "OpenAI", "apiUrl": "https://x.test/v1", "certificateData": "abc"},
            "Unrecognized keys",
        ),
    ],
)
def test_3_5_6_7_8_9_12_bad_config_is_400(
    service: Service, config: dict[str, Any], fragment: str
) -> None:
    body = {
        "name": "x",
        "connector_type_id": ".gen-ai",
        "config": config,
        "secrets": {"apiKey": "k"},
    }
    with service.client(service.admin) as client:
        response = create(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Bad Request"
    assert fragment in response.json()["message"]


def test_10_11_allow_list_exact_hostnames(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"xpack.actions.allowedHosts": ["api.openai.com"]})
    svc = start_service(settings)
    try:
        with svc.client(svc.admin) as client:
            ok = create(client, openai_body("https://api.openai.com/v1/chat/completions"))
            sub = create(client, openai_body("https://eu.api.openai.com/v1/chat/completions"))
    finally:
        svc.thread.stop()
    assert ok.status_code == 200
    assert sub.status_code == 400
    assert (
        'target url "https://eu.api.openai.com/v1/chat/completions" is not added to the Kibana '
        "config xpack.actions.allowedHosts" in sub.json()["message"]
    )


def test_13_numbers_coerced_from_strings(service: Service) -> None:
    body = openai_body("https://api.openai.com/v1", contextWindowLength="128000", temperature="0.7")
    with service.client(service.admin) as client:
        config = create(client, body).json()["config"]
    assert config["contextWindowLength"] == 128000 and config["temperature"] == 0.7


@pytest.mark.parametrize(
    ("secrets", "fragment"),
    [
        (
            None,
            "error validating connector type secrets: "
            "[apiKey]: expected value of type [string] but got [undefined]",
        ),
        # the route's body schema refuses the empty string before the secrets validator
        ({"apiKey": ""}, "[request body.secrets.apiKey]: value '' is not valid"),
    ],
)
def test_14_15_missing_secrets(service: Service, secrets: Any, fragment: str) -> None:
    body = openai_body("https://api.openai.com/v1")
    if secrets is None:
        del body["secrets"]
    else:
        body["secrets"] = secrets
    with service.client(service.admin) as client:
        response = create(client, body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_73_mutations_need_kbn_xsrf(service: Service) -> None:
    with service.client(service.admin) as client:
        response = client.post(
            "/s/xsrf/api/actions/connector", json=openai_body("https://a.test/v1")
        )
        listed = client.get("/s/xsrf/api/actions/connectors")
    assert response.status_code == 400
    assert response.json()["message"] == "Request must contain a kbn-xsrf header."
    assert listed.status_code == 200 and listed.json() == []


def test_74_75_77_78_crud_with_client_id(service: Service) -> None:
    with service.client(service.admin, base="/s/crud") as client:
        made = create(client, openai_body("https://api.openai.com/v1"), path="")
        created = client.post(
            "/api/actions/connector/my-id",
            json=openai_body("https://api.openai.com/v1"),
            headers=XSRF,
        )
        again = client.post(
            "/api/actions/connector/my-id",
            json=openai_body("https://api.openai.com/v1"),
            headers=XSRF,
        )
        got = client.get("/api/actions/connector/my-id")
        missing = client.get("/api/actions/connector/nope")
        update_body = {
            "name": "Renamed",
            "config": {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v2"},
            "secrets": {"apiKey": "new-key"},
        }
        updated = client.put("/api/actions/connector/my-id", json=update_body, headers=XSRF)
        update_missing = client.put("/api/actions/connector/nope", json=update_body, headers=XSRF)
        bad_update = client.put(
            "/api/actions/connector/my-id",
            json={"name": "x", "config": {"apiProvider": "OpenAI", "apiUrl": "https://a.test"}},
            headers=XSRF,
        )
        deleted = client.delete("/api/actions/connector/my-id", headers=XSRF)
        deleted_again = client.delete("/api/actions/connector/my-id", headers=XSRF)
    assert made.status_code == 200 and made.json()["id"]
    assert created.status_code == 200 and created.json()["id"] == "my-id"
    assert again.status_code == 409
    assert got.status_code == 200 and got.json()["name"] == "My OpenAI"
    assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
    assert updated.status_code == 200 and updated.json()["name"] == "Renamed"
    assert updated.json()["config"]["apiUrl"] == "https://api.openai.com/v2"
    assert update_missing.status_code == 404
    assert bad_update.status_code == 400  # secrets replaced as a whole: apiKey required
    assert deleted.status_code == 204 and deleted.content == b""
    assert deleted_again.status_code == 404


def test_76_list_sorted_by_name_with_preconfigured(tmp_path: Path) -> None:
    pre = {
        "local": {
            "name": "B preconfigured",
            "actionTypeId": ".gen-ai",
            "config": {
                "apiProvider": "Other",
                "apiUrl": "http://localhost:1234/v1/chat/completions",
                "defaultModel": "m",
            },
            "secrets": {"apiKey": "pre-secret-value"},
        },
        "exposed": {
            "name": "D exposed",
            "actionTypeId": ".gen-ai",
            "exposeConfig": True,
            "config": {
                "apiProvider": "Other",
                "apiUrl": "http://localhost:1234/v1/chat/completions",
                "defaultModel": "m",
            },
            "secrets": {"apiKey": "pre-secret-value"},
        },
    }
    svc = start_service(make_settings(tmp_path, **{"xpack.actions.preconfigured": pre}))
    try:
        with svc.client(svc.admin) as client:
            for name in ("C saved", "A saved"):
                body = openai_body("https://api.openai.com/v1")
                body["name"] = name
                assert create(client, body).status_code == 200
            listed = client.get("/api/actions/connectors")
            in_space = client.get("/s/other/api/actions/connectors")
            pre_create = client.post(
                "/api/actions/connector/local", json=openai_body("https://a.test/v1"), headers=XSRF
            )
            pre_update = client.put(
                "/api/actions/connector/local",
                json={"name": "x", "config": {}, "secrets": {}},
                headers=XSRF,
            )
            pre_delete = client.delete("/api/actions/connector/local", headers=XSRF)
            pre_get = client.get("/api/actions/connector/exposed")
    finally:
        svc.thread.stop()
    names = [c["name"] for c in listed.json()]
    assert names == ["A saved", "B preconfigured", "C saved", "D exposed"]
    by_name = {c["name"]: c for c in listed.json()}
    assert all(c["referenced_by_count"] == 0 for c in listed.json())
    assert "config" not in by_name["B preconfigured"]
    assert by_name["B preconfigured"]["is_preconfigured"] is True
    assert by_name["D exposed"]["config"]["defaultModel"] == "m"
    assert [c["name"] for c in in_space.json()] == ["B preconfigured", "D exposed"]
    assert pre_create.status_code == 400
    assert pre_create.json()["message"] == "This local already exists in a preconfigured action."
    assert pre_update.status_code == 400 and pre_delete.status_code == 400
    assert pre_get.status_code == 200 and pre_get.json()["is_preconfigured"] is True
    for response in (listed, in_space, pre_get):
        assert "pre-secret-value" not in response.text
        items = response.json() if isinstance(response.json(), list) else [response.json()]
        assert all("secrets" not in item for item in items)


def test_79_execute_envelope_and_80_space_isolation(
    service: Service, upstream: FakeUpstream
) -> None:
    body = openai_body(upstream.url())
    with service.client(service.admin) as client:
        conn = client.post("/s/team-a/api/actions/connector", json=body, headers=XSRF).json()
        run = {
            "params": {
                "subAction": "run",
                "subActionParams": {
                    "body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})
                },
            }
        }
        ok = client.post(
            f"/s/team-a/api/actions/connector/{conn['id']}/_execute", json=run, headers=XSRF
        )
        other_space = client.post(
            f"/s/team-b/api/actions/connector/{conn['id']}/_execute", json=run, headers=XSRF
        )
        default_space = client.get(f"/api/actions/connector/{conn['id']}")
        upstream.fail(422, "The model `bad model` does not exist")
        failed = client.post(
            f"/s/team-a/api/actions/connector/{conn['id']}/_execute", json=run, headers=XSRF
        )
        empty = client.post(
            f"/s/team-a/api/actions/connector/{conn['id']}/_execute",
            json={"params": {}},
            headers=XSRF,
        )
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok" and ok.json()["connector_id"] == conn["id"]
    assert ok.json()["data"]["object"] == "chat.completion"
    assert other_space.status_code == 404 and default_space.status_code == 404
    assert failed.status_code == 200
    assert failed.json() == {
        "status": "error",
        "connector_id": conn["id"],
        "message": "an error occurred while running the action",
        "service_message": "Status code: 422. Message: API Error: Unprocessable Entity - "
        "The model `bad model` does not exist",
        "retry": True,
        "errorSource": "framework",
    }
    assert empty.status_code == 200 and empty.json()["retry"] is False
    assert empty.json()["errorSource"] == "user"


def test_81_connector_types(service: Service) -> None:
    with service.client(service.admin) as client:
        types = client.get("/api/actions/connector_types").json()
        filtered = client.get(
            "/api/actions/connector_types?feature_id=generativeAIForSecurity"
        ).json()
        none = client.get("/api/actions/connector_types?feature_id=alerting").json()
    assert types == [
        {
            "id": ".gen-ai",
            "name": "OpenAI",
            "enabled": True,
            "enabled_in_config": True,
            "enabled_in_license": True,
            "minimum_license_required": "enterprise",
            "supported_feature_ids": [
                "generativeAIForSecurity",
                "generativeAIForObservability",
                "generativeAIForSearchPlayground",
            ],
            "is_system_action_type": False,
            "is_deprecated": False,
        },
        {  # issue 19: llmrelay's route connectors, offered for the same features
            "id": ".llmrelay-route",
            "name": "llmrelay route",
            "enabled": True,
            "enabled_in_config": True,
            "enabled_in_license": True,
            "minimum_license_required": "basic",
            "supported_feature_ids": [
                "generativeAIForSecurity",
                "generativeAIForObservability",
                "generativeAIForSearchPlayground",
            ],
            "is_system_action_type": False,
            "is_deprecated": False,
        },
    ]
    assert filtered == types and none == []


def test_82_disabled_type_refuses_create_and_execute(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    svc = start_service(make_settings(tmp_path, **{"xpack.actions.enabledActionTypes": [".slack"]}))
    try:
        with svc.client(svc.admin) as client:
            response = create(client, openai_body(upstream.url()))
    finally:
        svc.thread.stop()
    assert response.status_code == 403
    assert (
        'action type ".gen-ai" is not enabled in the Kibana config xpack.actions.enabledActionTypes'
        in response.json()["message"]
    )


def test_90_preconfigured_executable_in_every_space(tmp_path: Path, upstream: FakeUpstream) -> None:
    pre = {
        "local-llm": {
            "name": "Local LLM",
            "actionTypeId": ".gen-ai",
            "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "local"},
            "secrets": {"apiKey": "pre-secret-value"},
        }
    }
    svc = start_service(make_settings(tmp_path, **{"xpack.actions.preconfigured": pre}))
    run = {
        "params": {
            "subAction": "run",
            "subActionParams": {
                "body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})
            },
        }
    }
    try:
        with svc.client(svc.admin) as client:
            results = [
                client.post(
                    f"{prefix}/api/actions/connector/local-llm/_execute", json=run, headers=XSRF
                )
                for prefix in ("", "/s/space-1", "/s/space-2")
            ]
    finally:
        svc.thread.stop()
    assert [r.json()["status"] for r in results] == ["ok", "ok", "ok"]
    assert upstream.last_request.headers["authorization"] == "Bearer pre-secret-value"
    assert all("pre-secret-value" not in r.text for r in results)


def test_unknown_keys_and_malformed_json_are_clear_400s(service: Service) -> None:
    with service.client(service.admin) as client:
        extra = client.post(
            "/api/actions/connector",
            json={**openai_body("https://a.test/v1"), "bogus": 1},
            headers=XSRF,
        )
        broken = client.post(
            "/api/actions/connector",
            content=b'{"name": ',
            headers={**XSRF, "content-type": "application/json"},
        )
        deep = client.post(
            "/api/actions/connector",
            content=b"[" * 200 + b"]" * 200,
            headers={**XSRF, "content-type": "application/json"},
        )
        huge = client.post(
            "/api/actions/connector",
            content=b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}',
            headers={**XSRF, "content-type": "application/json"},
        )
    assert extra.status_code == 400 and "bogus" in extra.json()["message"]
    assert broken.status_code == 400 and "Invalid JSON" in broken.json()["message"]
    assert deep.status_code == 400
    assert huge.status_code == 413


def test_openapi_document_lists_every_route(service: Service) -> None:
    with service.client() as client:
        doc = client.get("/api/openapi.json").json()
    paths = set(doc["paths"])
    for path in (
        "/api/actions/connector",
        "/api/actions/connector/{id}",
        "/api/actions/connectors",
        "/api/actions/connector/{id}/_execute",
        "/api/actions/connector_types",
        "/api/event_log/connector/{id}/_find",
        "/api/llmrelay/usage",
        "/s/{space_id}/api/actions/connector/{id}/_execute",
    ):
        assert path in paths
    assert set(doc["paths"]["/api/actions/connector/{id}"]) == {"get", "post", "put", "delete"}


def test_control_characters_in_names_are_a_clear_400(service: Service) -> None:
    body = openai_body("https://api.openai.com/v1")
    body["name"] = "bad\x00name"
    with service.client(service.admin, base="/s/ctl") as client:
        response = create(client, body)
        by_id = client.post(
            "/api/actions/connector/a%01b",
            json=openai_body("https://api.openai.com/v1"),
            headers=XSRF,
        )
    assert response.status_code == 400 and "control characters" in response.json()["message"]
    assert by_id.status_code == 400


def test_openapi_covers_every_api_route(service: Service) -> None:
    from starlette.routing import Mount, Route

    from llmrelay.web.app import create_app

    with service.client() as client:
        documented = set(client.get("/api/openapi.json").json()["paths"])
    app = create_app(service.settings)

    def walk(routes: list[object], prefix: str = "") -> set[str]:
        found: set[str] = set()
        for route in routes:
            if isinstance(route, Mount):
                found |= walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route):
                found.add(prefix + route.path)
        return found

    served = {
        path.replace("{model:path}", "{model}")
        for path in walk(list(app.routes))
        if path.startswith(("/api", "/v1", "/metrics", "/s/{space_id}/api", "/s/{space_id}/v1"))
        and not path.endswith("{path:path}")  # catch-all answering OpenAI-shaped 404s
    }
    assert served - documented == set()
