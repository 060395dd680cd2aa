"""Executing a route through ``_execute``: a failing target (500, 503, 429, connection
refused) moves on to the next one, a 400 is the caller's answer at once, retries reach the
upstream, weights spread the traffic, a target that keeps failing cools down, and the
events count tokens once, on the connector that answered."""

from __future__ import annotations

import math

import httpx
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.routes.conftest import (
    XSRF,
    create_route,
    events,
    executes,
    gen_ai,
    route_config,
    run,
)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_failing_target_moves_on_to_the_fallback(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream, status: int
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(status, "unavailable")
    answer = run(client, route_id)
    assert answer["status"] == "ok", answer
    assert answer["connector_id"] == route_id
    assert answer["data"]["model"] == "target-model"
    assert len(upstream.requests) == 1
    assert len(upstream_b.requests) == 1


def test_connection_refused_moves_on(
    client: httpx.Client, refused_url: str, upstream_b: FakeUpstream
) -> None:
    dead = gen_ai(client, refused_url, "dead")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([dead], [b]))
    assert run(client, route_id)["status"] == "ok"
    assert len(upstream_b.requests) == 1
    (route_event,) = executes(client, route_id, 1)
    attempts = route_event["llmrelay"]["route"]["attempts"]
    assert [(x["connector_id"], x["outcome"]) for x in attempts] == [
        (dead, "failure"),
        (b, "success"),
    ]
    assert attempts[0]["error"] == "connection"


def test_a_400_is_the_callers_answer_at_once(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b], retries=3))
    upstream.fail(400, "bad request body")
    answer = run(client, route_id)
    assert answer["status"] == "error"
    assert answer["connector_id"] == route_id
    assert "bad request body" in answer["service_message"]
    assert len(upstream.requests) == 1  # no retry either
    assert upstream_b.requests == []


def test_retries_reach_the_upstream_then_the_next_target(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b], retries=2))
    upstream.fail(502, times=3)
    assert run(client, route_id)["status"] == "ok"
    assert len(upstream.requests) == 3  # the first try and two retries
    assert len(upstream_b.requests) == 1
    upstream.reset()
    upstream_b.reset()
    fresh = create_route(client, route_config([a], [b], retries=2))  # a cools in route_id
    upstream.fail(500, times=2)
    assert run(client, fresh)["status"] == "ok"
    assert len(upstream.requests) == 3  # the second retry answered
    assert upstream_b.requests == []


def test_every_target_failing_answers_the_last_failure(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(500, "first down")
    upstream_b.fail(503, "second down")
    answer = run(client, route_id)
    assert answer["status"] == "error"
    assert answer["connector_id"] == route_id
    assert "second down" in answer["service_message"]
    (route_event,) = executes(client, route_id, 1)
    assert route_event["event"]["outcome"] == "failure"
    assert "target" not in route_event["llmrelay"]["route"]


def test_events_count_tokens_once_on_the_connector_that_answered(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(500)
    assert run(client, route_id)["status"] == "ok"
    (route_event,) = executes(client, route_id, 1)
    assert route_event["event"]["outcome"] == "success"
    assert "gen_ai" not in route_event["kibana"]["action"]["execution"]
    assert route_event["llmrelay"]["usage_source"] == "missing"
    assert route_event["kibana"]["action"]["type_id"] == ".llmrelay-route"
    route = route_event["llmrelay"]["route"]
    assert route["target"] == b
    assert [(x["connector_id"], x["outcome"]) for x in route["attempts"]] == [
        (a, "failure"),
        (b, "success"),
    ]
    assert route["attempts"][0]["error"] == "http_500"
    assert all(x["duration_ms"] >= 0 for x in route["attempts"])
    (answered,) = executes(client, b, 1)
    assert answered["llmrelay"]["route_id"] == route_id
    assert answered["kibana"]["action"]["execution"]["gen_ai"]["usage"]["total_tokens"] > 0
    (failed,) = executes(client, a, 1)
    assert failed["llmrelay"]["route_id"] == route_id
    assert failed["event"]["outcome"] == "failure"
    # the start events carry the route too (one pair per execution)
    starts = [d for d in events(client, b, 2) if d["event"]["action"] == "execute-start"]
    assert starts[0]["llmrelay"]["route_id"] == route_id


def test_weights_spread_calls_within_a_binomial_bound(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    """Weights 1 and 3 over 200 calls: the heavy target's count is Binomial(200, 0.75),
    mean 150, sigma 6.1; 6 sigma (about 1 in 500 million) bounds it to [113, 187]."""
    light = gen_ai(client, upstream.url(), "light")
    heavy = gen_ai(client, upstream_b.url(), "heavy")
    route_id = create_route(client, route_config([(light, 1), (heavy, 3)]))
    calls = 200
    for _ in range(calls):
        assert run(client, route_id)["status"] == "ok"
    p = 3 / 4
    sigma = math.sqrt(calls * p * (1 - p))
    low, high = calls * p - 6 * sigma, calls * p + 6 * sigma
    assert len(upstream.requests) + len(upstream_b.requests) == calls
    assert low <= len(upstream_b.requests) <= high
    assert len(upstream.requests) > 0  # the light target is not starved either


def test_a_target_failing_three_times_in_a_row_cools_down(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b], cooldownSeconds=300))
    upstream.fail(503, times=3)
    for _ in range(3):
        assert run(client, route_id)["status"] == "ok"
    assert len(upstream.requests) == 3
    assert run(client, route_id)["status"] == "ok"
    assert len(upstream.requests) == 3  # skipped: cooling down while b answers
    assert len(upstream_b.requests) == 4
    latest = executes(client, route_id, 4)[0]
    assert [x["connector_id"] for x in latest["llmrelay"]["route"]["attempts"]] == [b]


def test_a_cooling_target_is_still_tried_when_nothing_else_answers(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b], cooldownSeconds=300))
    upstream.fail(503, times=3)
    for _ in range(3):
        run(client, route_id)
    upstream_b.fail(500)
    assert run(client, route_id)["status"] == "ok"  # b failed, cooling a answered
    assert len(upstream.requests) == 4


def test_a_deleted_target_is_skipped(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    assert client.delete(f"/api/actions/connector/{a}", headers={"kbn-xsrf": "1"}).is_success
    assert run(client, route_id)["status"] == "ok"
    (route_event,) = executes(client, route_id, 1)
    assert route_event["llmrelay"]["route"]["attempts"][0] == {
        "connector_id": a,
        "outcome": "missing",
        "duration_ms": 0.0,
    }


def test_a_route_of_routes(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    inner = create_route(client, route_config([a]), "inner")
    outer = create_route(client, route_config([inner], [b]), "outer")
    upstream.fail(500)
    assert run(client, outer)["status"] == "ok"
    assert len(upstream_b.requests) == 1
    (inner_event,) = executes(client, inner, 1)
    assert inner_event["llmrelay"]["route_id"] == outer
    (answered,) = executes(client, b, 1)
    assert answered["llmrelay"]["route_id"] == outer


def test_a_bad_envelope_is_refused_without_events(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    route_id = create_route(client, route_config([a]))
    refused = client.post(
        f"/api/actions/connector/{route_id}/_execute", json={"params": {}}, headers=XSRF
    ).json()
    assert refused["status"] == "error"
    assert refused["connector_id"] == route_id
    assert refused["errorSource"] == "user"
    assert upstream.requests == []
    assert run(client, route_id)["status"] == "ok"
    # written in order: had the refusal left events, they would be counted here
    assert len(events(client, route_id, 2)) == 2


def test_usage_by_route_counts_the_answering_connectors_tokens(
    route_service: Service, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    with route_service.client(route_service.admin, base="/s/route-usage") as client:
        a = gen_ai(client, upstream.url(), "a")
        b = gen_ai(client, upstream_b.url(), "b")
        route_id = create_route(client, route_config([a], [b]))
        upstream.fail(500, times=2)
        for _ in range(2):
            assert run(client, route_id)["status"] == "ok"
        answered = executes(client, b, 2)
        executes(client, a, 2)
        executes(client, route_id, 2)
        tokens = sum(
            e["kibana"]["action"]["execution"]["gen_ai"]["usage"]["total_tokens"] for e in answered
        )
        report = client.get("/api/llmrelay/usage?start=now-1h&group_by=route").json()
    by_route: dict[str | None, dict[str, int]] = {}
    for bucket in report["buckets"]:
        row = by_route.setdefault(bucket["key"], {"executions": 0, "total_tokens": 0})
        row["executions"] += bucket["executions"]
        row["total_tokens"] += bucket["total_tokens"]
    assert report["totals"]["total_tokens"] == tokens  # counted once
    assert by_route[route_id] == {"executions": 4, "total_tokens": tokens}  # 2 answered, 2 failed
    assert by_route[None] == {"executions": 2, "total_tokens": 0}  # the route's own events
