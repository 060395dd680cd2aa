"""``GET /api/llmrelay/usage`` by endpoint and route, and what executions cost: each
``execute`` event carries ``llmrelay.cost_usd`` from the price table, the rollups sum it
exactly, and tokens of models without a price are counted as unpriced (never as 0 USD).
Against the running service on SQLite and PostgreSQL, with the openai SDK on ``/v1``."""

from __future__ import annotations

from typing import Any

from llmrelay.domain.prices import cost_usd
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.gateway.conftest import create_connector, events, key_for, sdk

SPACE = "usage-cost"
HELLO = [{"role": "user", "content": "Hello there, how are you?"}]


def _usage(service: Service, query: str) -> Any:
    with service.client(service.admin, base=f"/s/{SPACE}") as client:
        response = client.get(f"/api/llmrelay/usage?start=now-1h&{query}")
    assert response.status_code == 200, response.text
    return response.json()


def _tokens(event: dict[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = event["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    return usage


def test_cost_per_execution_and_usage_by_endpoint(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, SPACE, upstream.url(), defaultModel="gpt-4o")
    key = key_for(service, SPACE, owner="ursula")
    with sdk(service, SPACE, key) as client:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
        client.chat.completions.create(
            model=f"{connector_id}/my-local-model",
            messages=HELLO,  # type: ignore[arg-type]
        )
        client.embeddings.create(model=f"{connector_id}/text-embedding-3-small", input="hi there")
    finished = {
        e["llmrelay"]["model"]: e
        for e in events(service, SPACE, connector_id, 6)
        if e["event"]["action"] == "execute"
    }
    assert set(finished) == {"gpt-4o", "my-local-model", "text-embedding-3-small"}
    for model, event in finished.items():
        used = _tokens(event)
        expected = cost_usd(model, used["prompt_tokens"], used["completion_tokens"])
        assert event["llmrelay"]["cost_usd"] == expected
    assert finished["gpt-4o"]["llmrelay"]["cost_usd"] > 0
    assert finished["my-local-model"]["llmrelay"]["cost_usd"] is None  # unknown, not 0
    unpriced = _tokens(finished["my-local-model"])["total_tokens"]
    chat_nano = round(finished["gpt-4o"]["llmrelay"]["cost_usd"] * 1e9)
    embed_nano = round(finished["text-embedding-3-small"]["llmrelay"]["cost_usd"] * 1e9)

    report = _usage(service, "group_by=endpoint")
    assert report["group_by"] == "endpoint" and report["endpoint"] is None
    totals = report["totals"]
    assert totals["executions"] == 3
    assert totals["cost_usd"] == (chat_nano + embed_nano) / 1e9
    assert totals["unpriced_tokens"] == unpriced and totals["unpriced_executions"] == 1
    by_endpoint: dict[str, dict[str, Any]] = {}
    for bucket in report["buckets"]:
        row = by_endpoint.setdefault(bucket["key"], {"executions": 0, "total_tokens": 0})
        row["executions"] += bucket["executions"]
        row["total_tokens"] += bucket["total_tokens"]
        assert bucket["cost_usd"] is None or bucket["cost_usd"] >= 0
    assert by_endpoint == {
        "chat": {
            "executions": 2,
            "total_tokens": _tokens(finished["gpt-4o"])["total_tokens"] + unpriced,
        },
        "embeddings": {
            "executions": 1,
            "total_tokens": _tokens(finished["text-embedding-3-small"])["total_tokens"],
        },
    }

    only = _usage(service, "endpoint=embeddings")
    assert only["endpoint"] == "embeddings"
    assert only["totals"]["executions"] == 1
    assert only["totals"]["cost_usd"] == embed_nano / 1e9

    models = _usage(service, "group_by=model&endpoint=chat")["buckets"]
    assert {b["key"]: b["cost_usd"] for b in models} == {
        "gpt-4o": chat_nano / 1e9,
        "my-local-model": None,  # no execution in it was priced
    }

    routes = _usage(service, "group_by=route")["buckets"]
    assert {b["key"] for b in routes} == {None}  # no route connector was used


def test_an_unknown_endpoint_or_group_is_refused_with_the_choices(service: Service) -> None:
    with service.client(service.admin) as client:
        bad = client.get("/api/llmrelay/usage?endpoint=images")
        assert bad.status_code == 400
        assert bad.json()["message"].startswith("[endpoint]: expected one of chat, embeddings")
        group = client.get("/api/llmrelay/usage?group_by=space")
        assert group.status_code == 400
        assert group.json()["message"] == (
            "[group_by]: expected one of user, connector, model, endpoint, route"
        )
        empty = client.get("/api/llmrelay/usage?start=now-15m").json()["totals"]
    assert empty["cost_usd"] is None and empty["unpriced_tokens"] == 0
