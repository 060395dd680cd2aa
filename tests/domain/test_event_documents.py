from __future__ import annotations

import pytest

from llmrelay.domain.event_documents import (
    duration_ns,
    execute_base,
    execute_document,
    iso_from_ns,
    start_document,
)
from llmrelay.domain.events import ExecutionRecord, RouteAttempt, TokenUsage
from llmrelay.domain.prices import execution_cost, merge_prices

START_NS = 1_704_067_200_000_000_000 + 123_456_789  # 2024-01-01T00:00:00.123456789Z
END_NS = START_NS + 1_500_000_000 + 42  # 1.5 s later (+42 ns)
SERVER = {"server_uuid": "5b2de169-2785-441b-ae8c-186a1936b17d", "version": "8.15.0"}


def record(**changes: object) -> ExecutionRecord:
    values: dict[str, object] = {
        "execution_id": "exec-1",
        "connector_id": "conn-1",
        "connector_name": "My OpenAI",
        "connector_type_id": ".gen-ai",
        "sub_action": "run",
        "user_name": "elastic",
        "started_ns": START_NS,
        "ended_ns": END_NS,
        "outcome": "success",
        "model": "gpt-4o",
        "request_body_bytes": 78,
        "usage": TokenUsage(10, 12, 22, "response"),
    }
    values.update(changes)
    return ExecutionRecord(**values)  # type: ignore[arg-type]


def test_iso_from_ns() -> None:
    assert iso_from_ns(START_NS) == "2024-01-01T00:00:00.123Z"
    assert iso_from_ns(END_NS) == "2024-01-01T00:00:01.623Z"


def test_success_document_exact() -> None:
    cost = execution_cost("gpt-4o", record().recorded_usage)
    assert execute_document(record(), cost=cost, **SERVER) == {
        "@timestamp": "2024-01-01T00:00:01.623Z",
        "message": "action executed: .gen-ai:conn-1: My OpenAI",
        "event": {
            "provider": "actions",
            "action": "execute",
            "kind": "action",
            "start": "2024-01-01T00:00:00.123Z",
            "end": "2024-01-01T00:00:01.623Z",
            "duration": "1500000042",  # a string of nanoseconds, as Kibana stores it
            "outcome": "success",
            "id": "exec-1:execute",
        },
        "kibana": {
            "saved_objects": [
                {"rel": "primary", "type": "action", "id": "conn-1", "type_id": ".gen-ai"}
            ],
            "space_ids": ["default"],
            "action": {
                "name": "My OpenAI",
                "id": "conn-1",
                "type_id": ".gen-ai",
                "execution": {
                    "uuid": "exec-1",
                    "source": "http_request",
                    "usage": {"request_body_bytes": 78},
                    "gen_ai": {
                        "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}
                    },
                },
            },
            "server_uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
            "version": "8.15.0",
        },
        "user": {"name": "elastic"},
        "ecs": {"version": "1.8.0"},
        "llmrelay": {
            "sub_action": "run",
            "model": "gpt-4o",
            "usage_source": "response",
            "stream_cancelled": False,
            "endpoint": "chat",
            "cost_usd": 0.000145,  # 10 x 2.50 + 12 x 10.00 USD per million tokens
        },
    }


def test_start_document_exact() -> None:
    assert start_document(record(), **SERVER) == {
        "@timestamp": "2024-01-01T00:00:00.123Z",
        "message": "action started: .gen-ai:conn-1: My OpenAI",
        "event": {
            "provider": "actions",
            "action": "execute-start",
            "kind": "action",
            "start": "2024-01-01T00:00:00.123Z",
            "id": "exec-1:execute-start",
        },
        "kibana": {
            "saved_objects": [
                {"rel": "primary", "type": "action", "id": "conn-1", "type_id": ".gen-ai"}
            ],
            "space_ids": ["default"],
            "action": {
                "name": "My OpenAI",
                "id": "conn-1",
                "type_id": ".gen-ai",
                "execution": {
                    "uuid": "exec-1",
                    "source": "http_request",
                    "usage": {"request_body_bytes": 78},
                },
            },
            "server_uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
            "version": "8.15.0",
        },
        "user": {"name": "elastic"},
        "ecs": {"version": "1.8.0"},
        "llmrelay": {"sub_action": "run", "model": "gpt-4o"},
    }


def test_failure_has_error_and_no_usage() -> None:
    message = (
        "an error occurred while running the action: Status code: 422. Message: API Error: "
        "Unprocessable Entity - bad model; retry: true"
    )
    doc = execute_document(record(outcome="failure", error_message=message), **SERVER)
    assert doc["event"]["outcome"] == "failure"
    assert doc["message"] == "action execution failure: .gen-ai:conn-1: My OpenAI"
    assert doc["error"] == {"message": message}
    assert "gen_ai" not in doc["kibana"]["action"]["execution"]
    assert doc["llmrelay"]["usage_source"] == "missing"


def test_unsettled_outcome_is_a_failure() -> None:
    doc = execute_document(record(outcome="unknown"), **SERVER)
    assert doc["event"]["outcome"] == "failure"
    assert doc["message"] == (
        'action execution returned unexpected result: .gen-ai:conn-1: My OpenAI: "unknown"'
    )


def test_non_default_space_has_namespace() -> None:
    doc = execute_document(record(space_id="marketing"), **SERVER)
    assert doc["kibana"]["space_ids"] == ["marketing"]
    assert doc["kibana"]["saved_objects"][0]["namespace"] == "marketing"
    assert "space_agnostic" not in doc["kibana"]["saved_objects"][0]


def test_preconfigured_is_space_agnostic() -> None:
    doc = start_document(record(is_preconfigured=True), **SERVER)
    assert doc["kibana"]["saved_objects"][0]["space_agnostic"] is True
    assert "namespace" not in doc["kibana"]["saved_objects"][0]


def test_optional_fields_absent_when_unknown() -> None:
    doc = execute_document(record(user_name=None, model=None, usage=TokenUsage.missing()), **SERVER)
    assert "user" not in doc and "model" not in doc["llmrelay"]
    assert "gen_ai" not in doc["kibana"]["action"]["execution"]
    assert doc["llmrelay"]["usage_source"] == "missing"


def test_estimated_stream_usage_and_cancel() -> None:
    usage = TokenUsage(5, 7, 12, "estimated", tokenizer="cl100k_base")
    doc = execute_document(
        record(usage=usage, cancelled=True, stream=True, sub_action="stream"), **SERVER
    )
    assert doc["kibana"]["action"]["execution"]["gen_ai"]["usage"]["total_tokens"] == 12
    assert doc["llmrelay"] == {
        "sub_action": "stream",
        "model": "gpt-4o",
        "usage_source": "estimated",
        "tokenizer": "cl100k_base",
        "stream_cancelled": True,
        "endpoint": "chat",
        "cost_usd": None,  # no cost given: unknown
    }


def test_embeddings_executions_name_their_endpoint_on_the_execute_document() -> None:
    usage = TokenUsage(6, 0, 6, "estimated", tokenizer="cl100k_base")
    gateway = record(usage=usage, sub_action="embeddings", endpoint="embeddings")
    doc = execute_document(gateway, **SERVER)
    assert doc["llmrelay"]["endpoint"] == "embeddings"
    assert doc["kibana"]["action"]["execution"]["gen_ai"]["usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 0,
        "total_tokens": 6,
    }
    assert "endpoint" not in start_document(gateway, **SERVER)["llmrelay"]


def test_duration_never_negative() -> None:
    doc = execute_document(record(ended_ns=START_NS - 5), **SERVER)
    assert doc["event"]["duration"] == "0"


def test_api_key_executions_name_the_key_on_both_documents() -> None:
    record = ExecutionRecord(
        execution_id="exec-k",
        connector_id="c",
        connector_name="n",
        connector_type_id=".gen-ai",
        sub_action="run",
        user_name="alice",
        api_key_id="k3y1d",
        api_key_name="ci pipeline",
        started_ns=1,
        ended_ns=2,
        outcome="success",
    )
    for doc in (start_document(record, **SERVER), execute_document(record, **SERVER)):
        assert doc["kibana"]["user_api_key"] == {"id": "k3y1d", "name": "ci pipeline"}
        assert doc["user"] == {"name": "alice"}
    plain = ExecutionRecord("e", "c", "n", ".gen-ai", "run", user_name="alice")
    assert "user_api_key" not in execute_document(plain, **SERVER)["kibana"]


@pytest.mark.parametrize(
    ("duration", "nanos"),
    [("1500000042", 1_500_000_042), (1_500_000_042, 1_500_000_042), ("0", 0), (None, None),
     ("1.5", None), ("-3", None), (True, None), ("٣", None)],
)  # fmt: skip
def test_duration_is_read_from_strings_and_from_older_integers(
    duration: object, nanos: int | None
) -> None:
    assert duration_ns({"event": {"duration": duration}}) == nanos
    assert duration_ns({}) is None


def test_cost_is_a_number_or_null_never_zero_for_an_unknown_price() -> None:
    local = record(model="llama-3.1-8b-instruct")
    unknown = execution_cost(local.model, local.recorded_usage)
    assert unknown is None
    assert execute_document(local, cost=unknown, **SERVER)["llmrelay"]["cost_usd"] is None
    free = execution_cost(local.model, local.recorded_usage, merge_prices(
        {"llama-3.1-8b-instruct": {"input_per_million": 0, "output_per_million": 0}}
    ))  # fmt: skip
    assert execute_document(local, cost=free, **SERVER)["llmrelay"]["cost_usd"] == 0


def test_what_is_priced_is_what_the_event_records() -> None:
    """A failure records no usage, so it costs nothing (for a priced model) whatever
    tokens the record holds; cached prompt tokens are billed at the cached price."""
    failed = record(outcome="failure", usage=TokenUsage(10, 12, 22, "response"))
    assert execution_cost(failed.model, failed.recorded_usage) == 0
    cached = record(usage=TokenUsage(1000, 0, 1000, "response", cached_tokens=600))
    # gpt-4o: 400 x 2.50 + 600 x 1.25 per million
    assert str(execution_cost(cached.model, cached.recorded_usage)) == "0.00175"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"outcome": "failure", "error_message": "boom", "space_id": "team-a"},
        {
            "connector_type_id": ".llmrelay-route",
            "model": None,
            "usage": TokenUsage.missing(),
            "route_attempts": [RouteAttempt("a", "failure", 2_000_000, "http_503")],
            "route_target": None,
            "outcome": "failure",
            "error_message": "no connector of the route answered",
        },
    ],
)
def test_an_execute_document_completed_from_its_base_is_the_one_built_at_once(
    changes: dict[str, object],
) -> None:
    """A route builds its execute document's fixed part ahead, while its target works:
    completing it at the end gives exactly the document built in one go."""
    ahead = record(**changes)
    base = execute_base(ahead, **SERVER)
    assert execute_document(ahead, base=base, cost=None, **SERVER) == execute_document(
        record(**changes), cost=None, **SERVER
    )
