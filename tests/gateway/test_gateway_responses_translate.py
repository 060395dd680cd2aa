"""``POST /v1/responses`` for ``Other`` connectors whose server has no Responses API:
translated to chat completions and back (``responsesApi: translate``, or ``auto`` after
the server's 404, remembered per connector), plain and streamed, with the real ``openai``
SDK; parameters that cannot be translated are refused naming the parameter."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
import trustme

from llmrelay.execution.tokens import count_tokens
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.gateway.conftest import XSRF, async_sdk, create_connector, events, key_for, sdk
from tests.helpers.pki import pki_secrets

QUESTION = "What is the capital of France"
REPLY = f"You said: {QUESTION}"


def other(service: Service, space: str, url: str, **config: Any) -> str:
    return create_connector(service, space, url, "Other", defaultModel="local-llm", **config)


def usage_of(event: dict[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = event["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    return usage


def test_translate_plain_message_items_instructions_and_settings(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-plain", upstream.url(), responsesApi="translate")
    key = key_for(service, "tr-plain")
    with sdk(service, "tr-plain", key) as client:
        answer = client.responses.create(
            model=connector_id,
            instructions="Answer in one word",
            input=[
                {"role": "developer", "content": "Be polite"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is"},
                        {"type": "input_text", "text": "the capital of France"},
                    ],
                },
            ],
            max_output_tokens=20,
            temperature=0.2,
            top_p=0.9,
            store=False,
            metadata={"trace": "t1"},
        )
    assert answer.output_text == "You said: What is the capital of France"
    assert answer.status == "completed" and answer.model == "local-llm"
    assert answer.id.startswith("resp_") and answer.output[0].id.startswith("msg_")
    assert answer.instructions == "Answer in one word" and answer.metadata == {"trace": "t1"}
    assert answer.usage is not None
    assert answer.usage.input_tokens == 2 + 4 + 1 + 6  # the fake counts words of every message
    assert answer.usage.output_tokens == len(answer.output_text.split())
    sent = upstream.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.json == {
        "model": "local-llm",
        "messages": [
            {"role": "system", "content": "Answer in one word"},
            {"role": "system", "content": "Be polite"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "What is\nthe capital of France"},
        ],
        "max_tokens": 20,
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": False,
    }
    end = events(service, "tr-plain", connector_id, 2)[0]
    assert end["llmrelay"]["endpoint"] == "responses"
    assert end["llmrelay"]["usage_source"] == "response"
    assert usage_of(end)["prompt_tokens"] == answer.usage.input_tokens


def test_translate_stream_is_the_responses_event_sequence(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-stream", upstream.url(), responsesApi="translate")
    key = key_for(service, "tr-stream")
    with sdk(service, "tr-stream", key) as client:
        streamed = list(client.responses.create(model=connector_id, input=QUESTION, stream=True))
    kinds = [event.type for event in streamed]
    deltas = len(REPLY.split())
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in streamed] == list(range(len(streamed)))
    done = streamed[-1]
    assert done.type == "response.completed"
    assert done.response.output_text == REPLY and done.response.usage is None
    assert streamed[0].type == "response.created" and streamed[0].response.id == done.response.id
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and sent["stream"] is True and "stream_options" not in sent
    end = events(service, "tr-stream", connector_id, 2)[0]
    assert end["llmrelay"]["usage_source"] == "estimated"  # the server sent no usage chunk
    assert end["llmrelay"]["endpoint"] == "responses"
    assert usage_of(end)["completion_tokens"] == count_tokens(REPLY)


def test_translate_stream_with_stream_usage_and_the_sdk_helper(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(
        service, "tr-usage", upstream.url(), responsesApi="translate", streamUsage=True
    )
    key = key_for(service, "tr-usage")

    async def run() -> Any:
        async with (
            async_sdk(service, "tr-usage", key) as client,
            client.responses.stream(model=connector_id, input=QUESTION) as stream,
        ):
            texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
        assert "".join(texts) == final.output_text
        return final

    final = asyncio.run(run())
    assert final.output_text == REPLY
    assert final.usage is not None and final.usage.output_tokens == len(REPLY.split())
    assert final.usage.input_tokens == len(QUESTION.split())
    end = events(service, "tr-usage", connector_id, 2)[0]
    assert end["llmrelay"]["usage_source"] == "stream"
    assert usage_of(end)["total_tokens"] == final.usage.total_tokens


def test_a_cut_answer_is_incomplete(service: Service, upstream: FakeUpstream) -> None:
    connector_id = other(service, "tr-cut", upstream.url(), responsesApi="translate")
    key = key_for(service, "tr-cut")
    cut = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "local-llm",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Par"},
                "finish_reason": "length",
            }
        ],
    }
    upstream.reply_json(cut)
    upstream.stream(["Par", "is"])  # the fake's streams end with finish_reason "stop"
    with sdk(service, "tr-cut", key) as client:
        answer = client.responses.create(model=connector_id, input="x", max_output_tokens=1)
        last = list(client.responses.create(model=connector_id, input="x", stream=True))[-1]
    assert answer.status == "incomplete" and answer.output_text == "Par"
    assert answer.incomplete_details is not None
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert last.type == "response.completed" and last.response.output_text == "Paris"


def test_auto_forwards_when_the_server_has_the_responses_api(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-auto-n", upstream.url())
    key = key_for(service, "tr-auto-n")
    with sdk(service, "tr-auto-n", key) as client:
        answer = client.responses.create(model=connector_id, input=QUESTION)
    assert answer.id == "resp_fake000001"  # the server's own answer
    assert [r.path for r in upstream.requests] == ["/v1/responses"]


def test_auto_falls_back_on_404_and_remembers_the_connector(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-auto", upstream.url())
    key = key_for(service, "tr-auto")
    upstream.serve_responses(False)
    with sdk(service, "tr-auto", key) as client:
        first = client.responses.create(model=connector_id, input=QUESTION)
        second = list(client.responses.create(model=connector_id, input="again", stream=True))
    assert first.output_text == REPLY
    assert second[-1].type == "response.completed"
    assert second[-1].response.output_text == "You said: again"
    assert [r.path for r in upstream.requests] == [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]
    found = events(service, "tr-auto", connector_id, 4)  # one pair per call, the probe included
    ends = [e for e in found if e["event"]["action"] == "execute"]
    assert [e["event"]["outcome"] for e in ends] == ["success", "success"]


def test_auto_falls_back_on_405_in_a_stream(service: Service, upstream: FakeUpstream) -> None:
    connector_id = other(service, "tr-405", upstream.url())
    key = key_for(service, "tr-405")
    upstream.fail(405, "Method Not Allowed")
    with sdk(service, "tr-405", key) as client:
        last = list(client.responses.create(model=connector_id, input=QUESTION, stream=True))[-1]
    assert last.type == "response.completed" and last.response.output_text == REPLY
    assert [r.path for r in upstream.requests] == ["/v1/responses", "/v1/chat/completions"]


def test_auto_does_not_fall_back_on_other_errors(service: Service, upstream: FakeUpstream) -> None:
    connector_id = other(service, "tr-500", upstream.url())
    key = key_for(service, "tr-500")
    upstream.fail(500, "boom")
    with sdk(service, "tr-500", key) as client, pytest.raises(openai.InternalServerError):
        client.responses.create(model=connector_id, input=QUESTION)
    assert [r.path for r in upstream.requests] == ["/v1/responses"]


def test_auto_translates_when_the_url_does_not_tell_where_responses_is(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-custom", upstream.url("/api/chat"))
    key = key_for(service, "tr-custom")
    with sdk(service, "tr-custom", key) as client:
        answer = client.responses.create(model=connector_id, input=QUESTION)
    assert answer.output_text == REPLY
    assert [r.path for r in upstream.requests] == ["/api/chat"]


@pytest.mark.parametrize(
    ("extra", "param", "detail"),
    [
        ({"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools", "(tools"),
        ({"previous_response_id": "resp_1"}, "previous_response_id", "nothing is stored"),
        ({"store": True}, "store", "cannot be true"),
        ({"reasoning": {"effort": "low"}}, "reasoning", "cannot be translated"),
        ({"text": {"format": {"type": "json_object"}}}, "text", "structured output"),
        ({"frobnicate": 1}, "frobnicate", "is not a Responses parameter"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "what is this"},
                            {"type": "input_image", "image_url": "https://example.com/a.png"},
                        ],
                    }
                ]
            },
            "input[0].content[1]",
            "of type 'input_image'",
        ),
        (
            {"input": [{"type": "function_call_output", "call_id": "c", "output": "1"}]},
            "input[0]",
            "of type 'function_call_output'",
        ),
    ],
)
def test_what_cannot_be_translated_is_refused_naming_the_parameter(
    service: Service, upstream: FakeUpstream, extra: dict[str, Any], param: str, detail: str
) -> None:
    connector_id = other(service, "tr-refuse", upstream.url(), responsesApi="translate")
    key = key_for(service, "tr-refuse")
    body = {"model": connector_id, "input": QUESTION, **extra}
    with httpx.Client(base_url=f"{service.url}/s/tr-refuse/v1", timeout=30) as client:
        answer = client.post("/responses", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param and error["code"] == "unsupported_parameter"
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Unsupported parameter: '{param}' ")
    assert detail in error["message"] and "None" not in error["message"]
    assert upstream.requests == []
    assert events(service, "tr-refuse", connector_id, 0) == []


def test_auto_refuses_after_the_404_and_the_event_says_so(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "tr-auto-r", upstream.url())
    key = key_for(service, "tr-auto-r")
    upstream.serve_responses(False)
    tools = [{"type": "function", "name": "f", "parameters": {}}]
    with sdk(service, "tr-auto-r", key) as client, pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model=connector_id, input=QUESTION, tools=tools)  # type: ignore[list-item]
    assert bad.value.code == "unsupported_parameter" and bad.value.param == "tools"
    assert [r.path for r in upstream.requests] == ["/v1/responses"]
    end = events(service, "tr-auto-r", connector_id, 2)[0]
    assert end["event"]["outcome"] == "failure"
    assert "Unsupported parameter: 'tools'" in end["error"]["message"]


@pytest.mark.parametrize("server", ["tls_upstream", "mtls_upstream"])
def test_translate_over_tls_and_mutual_tls(
    service: Service,
    request: pytest.FixtureRequest,
    server: str,
    client_cert: trustme.LeafCert,
    ca: trustme.CA,
) -> None:
    upstream: FakeUpstream = request.getfixturevalue(server)
    space = f"tr-{server.split('_')[0]}"
    body = {
        "name": "translated over TLS",
        "connector_type_id": ".gen-ai",
        "config": {
            "apiProvider": "Other",
            "apiUrl": upstream.url(),
            "defaultModel": "qw",
            "responsesApi": "translate",
        },
        "secrets": pki_secrets(client_cert, ca),
    }
    with service.client(service.admin, base=f"/s/{space}") as admin:
        created = admin.post("/api/actions/connector", json=body, headers=XSRF)
    assert created.status_code == 200, created.text
    assert created.json()["config"]["responsesApi"] == "translate"
    key = key_for(service, space)
    with sdk(service, space, key) as client:
        answer = client.responses.create(model=created.json()["id"], input="secure")
        streamed = list(client.responses.create(model=created.json()["id"], input="s", stream=True))
    assert answer.output_text == "You said: secure"
    assert streamed[-1].type == "response.completed"
    assert streamed[-1].response.output_text == "You said: s"
    paths = [r.path for r in upstream.requests]
    assert paths == ["/v1/chat/completions", "/v1/chat/completions"]


def test_the_setting_is_validated(service: Service, upstream: FakeUpstream) -> None:
    body = {
        "name": "bad mode",
        "connector_type_id": ".gen-ai",
        "config": {
            "apiProvider": "Other",
            "apiUrl": upstream.url(),
            "defaultModel": "m",
            "responsesApi": "sometimes",
        },
        "secrets": {"apiKey": "k"},
    }
    with service.client(service.admin) as admin:
        refused = admin.post("/api/actions/connector", json=body, headers=XSRF)
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "error validating connector type config: [responsesApi]: "
        "Input should be 'native', 'translate' or 'auto'"
    )
