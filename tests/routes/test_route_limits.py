"""A route's targets under their own limits (issue 16 on every execution): a target whose
connector limit is reached is passed over like one that answered 429, without being
called; with nothing left the caller gets that limit's 429 (Kibana's form on ``_execute``,
OpenAI's on ``/v1``) with its Retry-After; the refusal is an event of the target."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.limits.conftest import away_from_minute_end
from tests.routes.conftest import (
    RUN_BODY,
    XSRF,
    create_route,
    events,
    executes,
    gen_ai,
    route_config,
    run,
)


def limit_on(client: httpx.Client, connector_id: str, name: str, **figures: int) -> str:
    body = {"name": name, "scope": {"connector": connector_id}, **figures}
    made = client.post("/api/llmrelay/limits", json=body, headers=XSRF)
    assert made.status_code == 200, made.text
    limit_id: str = made.json()["id"]
    return limit_id


def current(client: httpx.Client, limit_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/llmrelay/limits/{limit_id}").json()["current"]
    return found


def attempts_of(client: httpx.Client, route_id: str, count: int) -> list[list[Any]]:
    """Each route event's attempts as (connector, outcome, error), oldest call first."""
    docs = reversed(executes(client, route_id, count))
    return [
        [
            (a["connector_id"], a["outcome"], a.get("error"))
            for a in d["llmrelay"]["route"]["attempts"]
        ]
        for d in docs
    ]


def test_a_target_at_its_limit_is_passed_over_without_a_call(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b], retries=2))
    on_a = limit_on(client, a, "a once", requests_per_minute=1)
    away_from_minute_end()
    assert run(client, route_id)["status"] == "ok"
    answer = run(client, route_id)
    assert answer["status"] == "ok", answer
    assert answer["connector_id"] == route_id
    assert len(upstream.requests) == 1  # a was not called again, nor retried
    assert len(upstream_b.requests) == 1
    assert attempts_of(client, route_id, 2) == [
        [(a, "success", None)],
        [(a, "failure", "limit"), (b, "success", None)],
    ]
    # the refusal is an execution of a, under the route, and is not counted
    a_events = [d for d in events(client, a, 3) if d["event"]["action"] == "execute"]
    refusal = a_events[0]
    assert refusal["event"]["outcome"] == "failure"
    assert refusal["llmrelay"]["refused_by"] == on_a
    assert refusal["llmrelay"]["route_id"] == route_id
    assert refusal["error"]["message"] == 'Limit "a once" reached: 1 requests per minute'
    assert current(client, on_a)["requests_this_minute"] == 1
    # a refusal is not the connector's failure: no retry, and the breaker does not cool a
    for _ in range(3):
        assert run(client, route_id)["status"] == "ok"
    assert attempts_of(client, route_id, 5)[-1] == [(a, "failure", "limit"), (b, "success", None)]
    assert len(upstream.requests) == 1


def test_the_last_failure_answers_even_when_it_is_a_limit(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    limit_on(client, a, "a never", requests_per_minute=1)
    away_from_minute_end()
    assert run(client, a)["status"] == "ok"  # a's minute is used up, called directly
    route_id = create_route(client, route_config([b], [a]))
    upstream_b.fail(503, "b is down")
    refused = client.post(
        f"/api/actions/connector/{route_id}/_execute",
        json={"params": {"subAction": "run", "subActionParams": {"body": RUN_BODY}}},
        headers=XSRF,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["message"] == 'Limit "a never" reached: 1 requests per minute'
    assert len(upstream.requests) == 1
    assert attempts_of(client, route_id, 1) == [
        [(b, "failure", "http_503"), (a, "failure", "limit")]
    ]
    # the other way round the upstream's failure is the last one, as for any route
    route_id = create_route(client, route_config([a], [b]))
    upstream_b.fail(503, "b is down")
    answer = run(client, route_id)
    assert answer["status"] == "error"
    assert "b is down" in answer["service_message"]


def test_nothing_left_answers_the_limits_429_on_both_doors(
    route_service: Service, client: httpx.Client, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    route_id = create_route(client, route_config([a]))
    limit_on(client, a, "a only", requests_per_minute=1)
    away_from_minute_end()
    assert run(client, route_id)["status"] == "ok"
    refused = client.post(
        f"/api/actions/connector/{route_id}/_execute",
        json={"params": {"subAction": "run", "subActionParams": {"body": '{"messages":[]}'}}},
        headers=XSRF,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json() == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": 'Limit "a only" reached: 1 requests per minute',
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    key = route_service.api_key(["connectors_read"], ["default"])["Authorization"]
    with (
        openai.OpenAI(
            base_url=f"{route_service.url}/v1",
            api_key=key.removeprefix("ApiKey "),
            max_retries=0,
            timeout=30,
        ) as sdk,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        sdk.chat.completions.create(model=route_id, messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.status_code == 429
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert error.response.json() == {
        "error": {
            "message": 'Limit "a only" reached: 1 requests per minute',
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert len(upstream.requests) == 1
    assert attempts_of(client, route_id, 3)[1:] == [[(a, "failure", "limit")]] * 2
