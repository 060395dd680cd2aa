"""Limits on both doors: ``_execute`` (Kibana's 429 form) and ``/v1`` with the real openai
SDK (OpenAI's 429 shapes), Retry-After, streams' tokens, cost, refusal events, scopes."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.limits.conftest import (
    HELLO,
    api,
    away_from_minute_end,
    connector,
    create_limit,
    execute_events,
    key_with_id,
    limit_of,
    run_body,
)


def sdk(service: Service, space: str, key: str) -> openai.OpenAI:
    base = f"{service.url}/v1" if space == "default" else f"{service.url}/s/{space}/v1"
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=30)


def counted_tokens(
    service: Service, space: str, limit_id: str, expected: int, field: str = "tokens_today"
) -> bool:
    """Whether the limit's ``field`` reaches ``expected`` within 10 s (poll)."""
    deadline = time.monotonic() + 10
    while True:
        tokens = limit_of(service, space, limit_id)["current"][field]
        if tokens >= expected or time.monotonic() > deadline:
            return bool(tokens == expected)
        time.sleep(0.05)


def execute(service: Service, space: str, connector_id: str, body: Any = None) -> Any:
    with api(service, space) as client:
        return client.post(
            f"/api/actions/connector/{connector_id}/_execute", json=body or run_body()
        )


def test_execute_refused_with_kibana_429_and_an_event(
    service: Service, upstream: FakeUpstream
) -> None:
    space = "lim-exec"
    connector_id = connector(service, space, upstream.url())
    limit = create_limit(
        service,
        space,
        {"name": "two a minute", "scope": {"connector": connector_id}, "requests_per_minute": 2},
    )
    away_from_minute_end()
    answers = [execute(service, space, connector_id) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.json() == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": 'Limit "two a minute" reached: 2 requests per minute',
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(upstream.requests) == 2  # the refused one never left
    dashboard = {"params": {"subAction": "getDashboard", "subActionParams": {"dashboardId": "d"}}}
    assert execute(service, space, connector_id, dashboard).status_code == 200  # not counted
    docs = execute_events(service, space, connector_id, 4)
    (newest,) = [d for d in docs if d["event"]["outcome"] == "failure"]
    assert [d["llmrelay"].get("refused_by") for d in docs].count(limit["id"]) == 1
    assert newest["llmrelay"]["refused_by"] == limit["id"]
    assert newest["error"]["message"] == 'Limit "two a minute" reached: 2 requests per minute'
    current = limit_of(service, space, limit["id"])["current"]
    assert current["requests_this_minute"] == 2


def test_v1_rate_limit_with_the_sdk(service: Service, upstream: FakeUpstream) -> None:
    space = "lim-v1"
    connector_id = connector(service, space, upstream.url())
    key_id, key = key_with_id(service, space)
    limit = create_limit(
        service,
        space,
        {"name": "one a minute", "scope": {"api_key": key_id}, "requests_per_minute": 1},
    )
    away_from_minute_end()
    with sdk(service, space, key) as client:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            client.embeddings.create(model=connector_id, input="counted by the same door")
    error = refused.value
    assert error.status_code == 429
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert error.response.json() == {
        "error": {
            "message": 'Limit "one a minute" reached: 1 requests per minute',
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    # another key of the space is not covered by this limit
    _, other = key_with_id(service, space)
    with sdk(service, space, other) as client:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert limit_of(service, space, limit["id"])["current"]["requests_this_minute"] == 1


def test_streamed_tokens_count_and_a_budget_refuses(
    service: Service, upstream: FakeUpstream
) -> None:
    space = "lim-stream"
    connector_id = connector(service, space, upstream.url())
    service.user("bea", ["connectors_read"], [space])
    _, key = key_with_id(service, space, owner="bea")
    limit = create_limit(
        service, space, {"name": "bea daily", "scope": {"user": "bea"}, "tokens_per_day": 5}
    )
    with sdk(service, space, key) as client:
        stream = client.chat.completions.create(
            model=connector_id,
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        assert usage and usage[0].total_tokens > 5
        # counted when the execution ends, which the server sees just after the last byte
        assert counted_tokens(service, space, limit["id"], usage[0].total_tokens)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.response.json()["error"] == {
        "message": 'Limit "bea daily" reached: 5 tokens per day',
        "type": "insufficient_quota",
        "param": None,
        "code": "budget_exceeded",
    }
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_cost_budget_counts_priced_models(service: Service, upstream: FakeUpstream) -> None:
    space = "lim-cost"
    connector_id = connector(service, space, upstream.url(), model="gpt-4o")
    limit = create_limit(
        service,
        space,
        {"name": "space budget", "scope": {"space": space}, "cost_usd_per_month": 0.000001},
    )
    assert execute(service, space, connector_id).status_code == 200
    current = limit_of(service, space, limit["id"])["current"]
    assert current["cost_usd_this_month"] > 0.000001
    refused = execute(service, space, connector_id)
    assert refused.status_code == 429
    assert refused.json()["message"] == 'Limit "space budget" reached: 1e-06 USD per month'


def test_limit_changes_apply_at_once(service: Service, upstream: FakeUpstream) -> None:
    space = "lim-change"
    connector_id = connector(service, space, upstream.url())
    limit = create_limit(
        service,
        space,
        {"name": "c", "scope": {"connector": connector_id}, "requests_per_minute": 1},
    )
    away_from_minute_end()
    assert execute(service, space, connector_id).status_code == 200
    assert execute(service, space, connector_id).status_code == 429
    with api(service, space) as client:
        assert client.delete(f"/api/llmrelay/limits/{limit['id']}").status_code == 204
    assert execute(service, space, connector_id).status_code == 200


def test_a_cancelled_stream_counts_what_was_streamed(
    service: Service, upstream: FakeUpstream
) -> None:
    space = "lim-cancel"
    connector_id = connector(service, space, upstream.url())
    key_id, key = key_with_id(service, space)
    limit = create_limit(
        service, space, {"name": "key", "scope": {"api_key": key_id}, "tokens_per_month": 10**6}
    )
    upstream.stream([f" w{i}" for i in range(50)], chunk_delay=0.05)
    with sdk(service, space, key) as client:
        stream = client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
        seen = ""
        for chunk in stream:
            seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
            if "w2" in seen:
                break
        stream.close()
    end = execute_events(service, space, connector_id, 1)[0]
    assert end["llmrelay"]["stream_cancelled"] is True
    usage = end["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    assert 0 < usage["completion_tokens"] < 50
    total = usage["total_tokens"]
    assert counted_tokens(service, space, limit["id"], total, "tokens_this_month")
    current = limit_of(service, space, limit["id"])["current"]
    assert current["tokens_this_month"] == usage["total_tokens"]
    assert current["requests_this_month"] == 1


def test_a_route_is_limited_as_the_connector_named(
    service: Service, upstream: FakeUpstream
) -> None:
    """A limit on a route admits by the route's id; the tokens of the connector that
    answered count for the route's limit (and for the connector's own)."""
    space = "lim-route"
    target = connector(service, space, upstream.url())
    with api(service, space) as client:
        made = client.post(
            "/api/actions/connector",
            json={
                "name": "route",
                "connector_type_id": ".llmrelay-route",
                "config": {"targets": [{"connectorId": target, "weight": 1}], "fallbacks": []},
            },
        )
    assert made.status_code == 200, made.text
    route_id = made.json()["id"]
    on_route = create_limit(
        service,
        space,
        {
            "name": "route",
            "scope": {"connector": route_id},
            "requests_per_minute": 1,
            "tokens_per_day": 10**6,
        },
    )
    on_target = create_limit(
        service, space, {"name": "target", "scope": {"connector": target}, "tokens_per_day": 10**6}
    )
    away_from_minute_end()
    ran = execute(service, space, route_id)
    assert ran.status_code == 200, ran.text
    tokens = ran.json()["data"]["usage"]["total_tokens"]
    refused = execute(service, space, route_id)
    assert refused.status_code == 429
    assert refused.json()["message"] == 'Limit "route" reached: 1 requests per minute'
    assert counted_tokens(service, space, on_route["id"], tokens)
    assert limit_of(service, space, on_target["id"])["current"]["tokens_today"] == tokens
