"""The connector engine end to end over real sockets: spec checklist items 21-55.

Each test builds a connector as a user would, executes a sub-action through the
Executor against the FakeUpstream and asserts what the upstream received, what the
caller got back and what the event sink recorded.
"""

from __future__ import annotations

import json

import orjson
import pytest

from llmrelay import ActionsSettings, Executor, UpstreamError
from llmrelay.testing import FakeUpstream
from tests.execution.conftest import ConnectorFactory, EventRecorder

HELLO = [{"role": "user", "content": "Hello world"}]
API_TEST_BODY = '{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'


def body(**extra: object) -> str:
    return json.dumps({"messages": HELLO, **extra})


# --- request construction (21-36) ------------------------------------------------------
async def test_21_openai_run_injects_default_model_and_stream_false(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.ok, result
    sent = upstream.last_request.json
    assert sent == {"messages": HELLO, "stream": False, "model": "gpt-4.1"}


async def test_22_body_model_wins(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url(), defaultModel="gpt-4o")
    await executor.execute(conn, "run", {"body": body(model="gpt-3.5-turbo")})
    assert upstream.last_request.json["model"] == "gpt-3.5-turbo"  # type: ignore[index]


async def test_23_run_forces_stream_false(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": body(stream=True)})
    assert result.ok
    assert upstream.last_request.json["stream"] is False  # type: ignore[index]


async def test_24_25_openai_headers(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector(
        "OpenAI",
        upstream.url(),
        organizationId="org-id",
        projectId="proj-id",
        headers={"X-My-Custom-Header": "foo", "Authorization": "override"},
    )
    await executor.execute(conn, "run", {"body": body()})
    headers = upstream.last_request.headers
    assert headers["authorization"] == "Bearer sk-test-123"
    assert headers["content-type"] == "application/json"
    assert headers["x-my-custom-header"] == "foo"
    assert headers["openai-organization"] == "org-id"
    assert headers["openai-project"] == "proj-id"


async def test_26_64_custom_url_sends_body_as_given_and_counts_bytes(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("OpenAI", upstream.url("/api/simulators/openai"))
    result = await executor.execute(conn, "test", {"body": API_TEST_BODY})
    assert result.ok
    assert upstream.last_request.body == API_TEST_BODY.encode()
    assert events.last.request_body_bytes == 78


async def test_27_28_azure_api_key_url_and_no_model(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    url = upstream.azure_url("NEW-DEPLOYMENT-321", "2023-05-15")
    conn = make_connector("Azure OpenAI", url)
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.ok
    request = upstream.last_request
    assert request.headers["api-key"] == "sk-test-123"
    assert "authorization" not in request.headers
    assert request.path == "/openai/deployments/NEW-DEPLOYMENT-321/chat/completions"
    assert request.query == {"api-version": "2023-05-15"}
    assert request.json == {"messages": HELLO, "stream": False}


async def test_28_azure_default_model_injected_when_configured(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Azure OpenAI", upstream.azure_url(), defaultModel="gpt-4o")
    await executor.execute(conn, "run", {"body": body()})
    assert upstream.last_request.json["model"] == "gpt-4o"  # type: ignore[index]


async def test_29_azure_other_url_body_unchanged(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Azure OpenAI", upstream.url("/some/gateway"))
    raw = body(stream=True)
    upstream.reply_json({"choices": [], "usage": None})
    await executor.execute(conn, "run", {"body": raw})
    assert upstream.last_request.body == raw.encode()


async def test_31_45_other_invoke_stream_has_no_stream_options(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="local-model")
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    assert result.ok
    async with result.data:  # type: ignore[union-attr]
        raw = b"".join([chunk async for chunk in result.data])  # type: ignore[union-attr]
    assert b"data: [DONE]" in raw
    sent = upstream.last_request.json
    assert sent == {"messages": HELLO, "stream": True, "model": "local-model"}


async def test_32_other_never_overrides_body_model(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="local-model")
    await executor.execute(conn, "run", {"body": body(model="llama3")})
    assert upstream.last_request.json["model"] == "llama3"  # type: ignore[index]


async def test_33_tool_params_stripped_without_tools(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="m")
    await executor.execute(
        conn,
        "run",
        {"body": body(tool_choice="auto", parallel_tool_calls=True, function_call="auto")},
    )
    sent = upstream.last_request.json
    assert isinstance(sent, dict)
    assert not {"tool_choice", "parallel_tool_calls", "function_call"} & set(sent)


async def test_34_non_json_body_forwarded_unchanged(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": "this is {not json"})
    assert upstream.last_request.body == b"this is {not json"
    assert not result.ok
    assert result.service_message is not None
    assert result.service_message.startswith("Status code: 400. Message: API Error: Bad Request")


async def test_35_50_timeout_uses_max_rule_and_kibana_message(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    settings = ActionsSettings(responseTimeout=400)
    conn = make_connector("OpenAI", upstream.url())
    upstream.slow_first_byte(1.5)
    async with Executor(settings) as ex:
        # params.timeout 100 < responseTimeout 400: the max wins
        result = await ex.execute(conn, "run", {"body": body(), "timeout": 100})
    assert not result.ok
    assert result.service_message == (
        "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - "
        "timeout of 400ms exceeded"
    )
    assert result.retry is True


async def test_35_requested_timeout_above_global_is_used(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    upstream.slow_first_byte(0.5)
    async with Executor(ActionsSettings(responseTimeout=100)) as ex:
        result = await ex.execute(conn, "run", {"body": body(), "timeout": 3000})
    assert result.ok, result


async def test_36_url_normalised(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.base_url + "//v1///chat/completions/")
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.ok
    assert upstream.last_request.path == "/v1/chat/completions"


async def test_37_redirect_to_host_outside_allow_list_refused(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    settings = ActionsSettings(allowedHosts=("localhost",))
    url = f"http://localhost:{upstream.port}/v1/chat/completions"
    conn = make_connector("OpenAI", url, settings=settings)
    upstream.redirect(f"http://127.0.0.1:{upstream.port}/v1/chat/completions")
    async with Executor(settings) as ex:
        result = await ex.execute(conn, "run", {"body": body()})
    assert not result.ok
    assert "is not added to the Kibana config xpack.actions.allowedHosts" in (
        result.service_message or ""
    )
    assert len(upstream.requests) == 1  # the redirect target was never called


async def test_38_response_larger_than_limit_fails(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    upstream.huge_response(64 * 1024)
    async with Executor(ActionsSettings(maxResponseContentLength="32kb")) as ex:
        result = await ex.execute(conn, "run", {"body": body()})
    assert not result.ok
    assert "maxContentLength size of 32768 exceeded" in (result.service_message or "")


# --- results and errors (39-55) ----------------------------------------------------------
async def test_39_65_run_returns_provider_json_and_records_usage(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    answer = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        "extra": {"kept": True},
    }
    upstream.reply_json(answer)
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.to_kibana() == {"status": "ok", "connector_id": "conn-1", "data": answer}
    usage = events.last.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 3, 13)
    assert usage.usage_source == "response"
    assert events.last.outcome == "success"


async def test_40_response_without_choices_fails_validation(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.reply_json({"id": "x", "usage": {"prompt_tokens": 1}})
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": body()})
    assert not result.ok
    assert (result.service_message or "").startswith("Response validation failed (")


async def test_40_deviation_e_response_without_usage_is_accepted(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.without_usage()
    conn = make_connector("Other", upstream.url(), defaultModel="local")
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.ok
    assert events.last.usage.usage_source == "missing"


async def test_41_invoke_ai_returns_trimmed_message_and_usage(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.reply_json(
        {
            "choices": [{"message": {"role": "assistant", "content": "  Hello there \n"}}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        }
    )
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invokeAI", {"messages": HELLO})
    assert result.data == {
        "message": "Hello there",
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }


async def test_42_invoke_ai_null_content_is_unrecognized_format(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.reply_json({"choices": [{"message": {"role": "assistant", "content": None}}]})
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invokeAI", {"messages": HELLO})
    assert result.ok
    assert result.data == {
        "message": "An error occurred sending your message. \n\nAPI Error: The response from "
        "OpenAI was in an unrecognized format.",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


async def test_43_invoke_ai_rejects_unknown_params(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invokeAI", {"messages": HELLO, "max_tokens": 5})
    assert not result.ok
    assert result.error_source == "user"
    assert (result.service_message or "").startswith("Request validation failed (")
    assert "max_tokens" in (result.service_message or "")
    assert upstream.requests == []


async def test_44_66_stream_true_passes_sse_through_and_records_stream_usage(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "stream", {"body": body(), "stream": True})
    assert result.ok
    chunks = [chunk async for chunk in result.data]  # type: ignore[union-attr]
    raw = b"".join(chunks)
    sent = upstream.last_request.json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}  # type: ignore[index]
    assert raw.endswith(b"data: [DONE]\n\n")
    expected = FakeUpstream.usage_for(HELLO, FakeUpstream.reply_text(HELLO))
    usage = events.last.usage
    assert usage.usage_source == "stream"
    assert usage.as_gen_ai() == expected
    assert len(events.ends) == 1


async def test_44_stream_false_returns_validated_json(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "stream", {"body": body(), "stream": False})
    assert result.ok
    assert isinstance(result.data, dict) and result.data["object"] == "chat.completion"


async def test_67_stream_without_usage_chunk_is_estimated(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="local-model")
    result = await executor.execute(conn, "stream", {"body": body(), "stream": True})
    async for _ in result.data:  # type: ignore[union-attr]
        pass
    usage = events.last.usage
    assert usage.usage_source == "estimated"
    assert usage.tokenizer == "cl100k_base"
    assert usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_46_invoke_async_iterator_yields_chunks_with_model(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("Azure OpenAI", upstream.azure_url())
    text = ""
    async for chunk in executor.stream(conn, {"messages": HELLO}):
        choices = chunk.get("choices") or []
        if choices:
            text += choices[0].get("delta", {}).get("content") or ""  # type: ignore[union-attr]
    assert text == FakeUpstream.reply_text(HELLO)
    sent = upstream.last_request.json
    assert sent == {"messages": HELLO, "stream": True, "model": "gpt-4.1"}


async def test_47_72_status_422_message_and_no_usage(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.fail(422, "The model `bad model` does not exist")
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "test", {"body": body(model="bad model")})
    assert result.to_kibana() == {
        "status": "error",
        "connector_id": "conn-1",
        "message": "an error occurred while running the action",
        "service_message": "Status code: 422. Message: API Error: Unprocessable Entity - "
        "The model `bad model` does not exist",
        "retry": True,
        "errorSource": "framework",
    }
    assert events.last.outcome == "failure"
    assert events.last.usage.usage_source == "missing"
    assert events.last.error_message == (
        "an error occurred while running the action: Status code: 422. Message: API Error: "
        "Unprocessable Entity - The model `bad model` does not exist; retry: true"
    )


async def test_48_unauthorized(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.fail(401, "The api key was invalid.")
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.service_message == (
        "Status code: 401. Message: Unauthorized API Error - The api key was invalid."
    )


async def test_49_string_error_body(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.fail(404, {"error": "Resource not found"})
    conn = make_connector("Other", upstream.url(), defaultModel="m")
    result = await executor.execute(conn, "run", {"body": body()})
    assert result.service_message == (
        "Status code: 404. Message: API Error: Not Found - Resource not found"
    )


async def test_51_streaming_error_status_reads_error_message(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.fail(400, "stream refused")
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    assert not result.ok
    assert result.service_message == (
        "Status code: 400. Message: API Error: Bad Request - stream refused"
    )


async def test_52_async_iterator_429_is_a_user_error(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    upstream.fail(429, "Rate limit reached")
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invokeAsyncIterator", {"messages": HELLO})
    assert not result.ok
    assert result.error_source == "user"
    assert result.service_message == "API Error: Too Many Requests - Rate limit reached"


async def test_54_unknown_sub_action(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute(conn, "invalidAction", {})
    assert result.to_kibana() == {
        "status": "error",
        "connector_id": "conn-1",
        "message": "an error occurred while running the action",
        "service_message": 'Sub action "invalidAction" is not registered. Connector id: conn-1. '
        "Connector name: OpenAI. Connector type: .gen-ai",
        "retry": True,
        "errorSource": "framework",
    }


async def test_55_empty_params_is_a_user_error_without_events(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    result = await executor.execute_params(conn, {})
    assert not result.ok
    assert result.retry is False
    assert result.error_source == "user"
    assert (result.message or "").startswith("error validating action params:")
    assert events.starts == [] and events.ends == []


async def test_59_one_start_and_one_end_record_per_execution(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    await executor.execute(conn, "run", {"body": body()})
    assert len(events.starts) == 1 and len(events.ends) == 1
    record = events.last
    assert record.connector_id == "conn-1" and record.connector_type_id == ".gen-ai"
    assert record.duration_ns > 0
    assert record.model == upstream.model or record.model == "gpt-4.1"


async def test_70_malformed_sse_line_does_not_fail_execution(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.stream(["Hello", " there"], malformed_line=True, usage=False)
    conn = make_connector("Other", upstream.url(), defaultModel="m")
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    raw = b"".join([c async for c in result.data])  # type: ignore[union-attr]
    assert b"data: {not json" in raw  # passed through unchanged
    assert events.last.outcome == "success"
    assert events.last.usage.usage_source == "missing"


async def test_71_cancelled_stream_records_tokens_so_far_once(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.stream(["one", " two", " three", " four", " five"], chunk_delay=0.05)
    conn = make_connector("Other", upstream.url(), defaultModel="m")
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    stream = result.data
    seen = 0
    async for chunk in stream:  # type: ignore[union-attr]
        if b"two" in chunk:
            break
        seen += 1
    await stream.aclose()  # type: ignore[union-attr]
    await stream.aclose()  # type: ignore[union-attr]  # idempotent
    assert len(events.ends) == 1
    record = events.last
    assert record.cancelled is True
    assert record.usage.usage_source == "estimated"
    assert 0 < record.usage.completion_tokens < 5


async def test_stream_reset_mid_way_is_a_failure_with_usage_so_far(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.stream(["a", " b", " c", " d"], reset_after=3)
    conn = make_connector("Other", upstream.url(), defaultModel="m")
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    received = b""
    with pytest.raises(UpstreamError) as caught:
        async for chunk in result.data:  # type: ignore[union-attr]
            received += chunk
    assert caught.value.code == "ECONNRESET"
    assert b"data:" in received
    assert len(events.ends) == 1
    assert events.last.outcome == "failure"
    assert events.last.error_message and "ECONNRESET" in events.last.error_message


async def test_get_dashboard_answers_from_the_access_check(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    from llmrelay import ExecutionContext

    conn = make_connector("OpenAI", upstream.url())
    params = {"dashboardId": "generative-ai-token-usage-openai-default"}
    allowed = await executor.execute(conn, "getDashboard", params)
    denied = await executor.execute(
        conn, "getDashboard", params, context=ExecutionContext(can_read_usage=False)
    )
    assert allowed.data == {"available": True}
    assert denied.data == {"available": False}
    assert upstream.requests == []


async def test_82_disabled_action_type(
    upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    async with Executor(ActionsSettings(enabledActionTypes=(".slack",))) as ex:
        result = await ex.execute(conn, "run", {"body": body()})
    assert not result.ok
    assert result.message == (
        'action type ".gen-ai" is not enabled in the Kibana config xpack.actions.enabledActionTypes'
    )
    assert upstream.requests == []


async def test_connections_are_reused_across_calls(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    for _ in range(5):
        assert (await executor.execute(conn, "run", {"body": body()})).ok
    ports = [r.client_port for r in upstream.requests]
    assert len(ports) == 5
    assert len(set(ports)) == 1, ports  # one kept-alive connection served all five calls


def test_result_envelope_is_json_ready() -> None:
    from llmrelay import ExecutionResult

    result = ExecutionResult("error", "c", message="m", retry=False, error_source="user")
    assert orjson.loads(orjson.dumps(result.to_kibana())) == {
        "status": "error",
        "connector_id": "c",
        "message": "m",
        "retry": False,
        "errorSource": "user",
    }
