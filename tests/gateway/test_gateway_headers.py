"""What SDKs read besides the body: the upstream's rate-limit and request-id headers reach
the caller on every answer (plain, streamed, errors), the openai SDK's retry loop follows
the upstream's ``retry-after`` / ``retry-after-ms`` / ``x-should-retry`` through the gateway,
and the upstream's request id lands on the ``execute`` event (``/v1`` and ``_execute``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.gateway.conftest import XSRF, base_url, create_connector, events, key_for

HELLO = [{"role": "user", "content": "Hello gateway"}]
RATE_LIMITS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "29999990",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "0s",
}
SDK_LOG = "openai._base_client"


def retrying_sdk(service: Service, space: str, key: str) -> openai.OpenAI:
    """The SDK as users run it: its default two retries."""
    return openai.OpenAI(base_url=base_url(service, space), api_key=key, max_retries=2, timeout=30)


def retrying_async_sdk(service: Service, space: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url(service, space), api_key=key, max_retries=2, timeout=30
    )


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The SDK's own account of each wait before a retry (``Retrying request in ...``)."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]


def request_ids(service: Service, space: str, connector_id: str, count: int) -> list[Any]:
    """``llmrelay.upstream_request_id`` of the connector's ``execute`` events, oldest first."""
    found = events(service, space, connector_id, count)
    ends = [e for e in reversed(found) if e["event"]["action"] == "execute"]
    return [e["llmrelay"].get("upstream_request_id") for e in ends]


def test_sync_sdk_waits_retry_after_ms_then_reads_the_success_headers(
    service: Service, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    connector_id = create_connector(service, "hd-retry", upstream.url())
    key = key_for(service, "hd-retry")
    limited = {"retry-after-ms": "20", "x-request-id": "req-429", "x-should-retry": "true"}
    upstream.fail(429, "Rate limit reached for requests", headers=limited)
    success = {"x-request-id": "req-ok", "openai-processing-ms": "351", **RATE_LIMITS}
    upstream.with_headers({**success, "set-cookie": "upstream=1", "x-upstream-only": "no"})
    caplog.set_level(logging.INFO, logger=SDK_LOG)
    with retrying_sdk(service, "hd-retry", key) as client:
        raw = client.chat.completions.with_raw_response.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
        answer = raw.parse()
    assert answer.choices[0].message.content == FakeUpstream.reply_text(HELLO)
    assert len(upstream.requests) == 2 and raw.retries_taken == 1
    # 20 ms is the header's: the SDK's own backoff would be 0.375-0.5 s
    assert retry_waits(caplog) == ["Retrying request in 0.020000 seconds (retry 1 of 2)"]
    assert raw.request_id == "req-ok"
    for name, value in success.items():
        assert raw.headers[name] == value
    assert "set-cookie" not in raw.headers and "x-upstream-only" not in raw.headers
    assert request_ids(service, "hd-retry", connector_id, 4) == ["req-429", "req-ok"]


def test_async_sdk_waits_retry_after_seconds(
    service: Service, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    connector_id = create_connector(service, "hd-async", upstream.url())
    key = key_for(service, "hd-async")
    upstream.fail(429, "Rate limit reached for tokens", headers={"retry-after": "1"})
    upstream.with_headers({"x-request-id": "req-async", **RATE_LIMITS})
    caplog.set_level(logging.INFO, logger=SDK_LOG)

    async def chat() -> Any:
        async with retrying_async_sdk(service, "hd-async", key) as client:
            return await client.chat.completions.with_raw_response.create(
                model=connector_id,
                messages=HELLO,  # type: ignore[arg-type]
            )

    raw = asyncio.run(chat())
    assert len(upstream.requests) == 2 and raw.retries_taken == 1
    assert retry_waits(caplog) == ["Retrying request in 1.000000 seconds (retry 1 of 2)"]
    assert raw.request_id == "req-async"
    for name, value in RATE_LIMITS.items():
        assert raw.headers[name] == value


@pytest.mark.parametrize(
    ("status", "headers"),
    [(429, {"retry-after": "3600"}), (503, {"x-should-retry": "false"})],
    ids=["retry-after-beyond-the-sdk-maximum", "x-should-retry-false"],
)
def test_sdk_gives_up_when_the_upstream_says_so(
    service: Service, upstream: FakeUpstream, status: int, headers: dict[str, str]
) -> None:
    """Without the header the SDK would try three times; with it, once."""
    connector_id = create_connector(service, "hd-stop", upstream.url())
    key = key_for(service, "hd-stop")
    upstream.fail(status, "not now", headers={**headers, "x-request-id": "req-stop"}, times=3)
    with (
        retrying_sdk(service, "hd-stop", key) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert len(upstream.requests) == 1
    assert caught.value.status_code == status
    assert caught.value.request_id == "req-stop"
    for name, value in headers.items():
        assert caught.value.response.headers[name] == value


def test_streamed_answer_carries_the_headers(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "hd-stream", upstream.url())
    key = key_for(service, "hd-stream")
    upstream.stream([" Hi", " there"], headers={"x-request-id": "req-sse", **RATE_LIMITS})
    with retrying_sdk(service, "hd-stream", key) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=connector_id,
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == " Hi there"
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.request_id == "req-sse"
    for name, value in RATE_LIMITS.items():
        assert raw.headers[name] == value
    assert request_ids(service, "hd-stream", connector_id, 2) == ["req-sse"]


def test_streamed_request_refused_upstream_carries_the_headers(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "hd-stream-429", upstream.url())
    key = key_for(service, "hd-stream-429")
    limited = {"retry-after": "7", "x-request-id": "req-sse-429", **RATE_LIMITS}
    upstream.fail(429, "Rate limit reached for requests", headers=limited)
    client = openai.OpenAI(base_url=base_url(service, "hd-stream-429"), api_key=key, max_retries=0)
    with client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert caught.value.request_id == "req-sse-429"
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["x-ratelimit-reset-tokens"] == "0s"
    assert request_ids(service, "hd-stream-429", connector_id, 2) == ["req-sse-429"]


def test_azure_apim_request_id_is_forwarded_and_recorded(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "hd-azure", upstream.azure_url(), "Azure OpenAI")
    key = key_for(service, "hd-azure")
    upstream.with_headers({"apim-request-id": "apim-1", "x-ratelimit-remaining-tokens": "5"})
    with retrying_sdk(service, "hd-azure", key) as client:
        raw = client.chat.completions.with_raw_response.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert raw.headers["apim-request-id"] == "apim-1"
    assert raw.headers["x-ratelimit-remaining-tokens"] == "5"
    assert "x-request-id" not in raw.headers
    assert request_ids(service, "hd-azure", connector_id, 2) == ["apim-1"]


def test_no_request_id_no_field(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "hd-none", upstream.url())
    key = key_for(service, "hd-none")
    with retrying_sdk(service, "hd-none", key) as client:
        raw = client.chat.completions.with_raw_response.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert raw.request_id is None
    assert request_ids(service, "hd-none", connector_id, 2) == [None]


def test_execute_events_record_the_upstream_request_id(
    service: Service, upstream: FakeUpstream
) -> None:
    """``_execute`` shares the executor: its events carry the id too, failures included."""
    connector_id = create_connector(service, "hd-execute", upstream.url())
    upstream.with_headers({"x-request-id": "req-run"})
    upstream.fail(429, "Rate limit reached", headers={"apim-request-id": "apim-429"})
    params = {"subAction": "invokeAI", "subActionParams": {"messages": HELLO}}
    with service.client(service.admin, base="/s/hd-execute") as client:
        for _ in range(2):
            response = client.post(
                f"/api/actions/connector/{connector_id}/_execute",
                json={"params": params},
                headers=XSRF,
            )
            assert response.status_code == 200
    assert request_ids(service, "hd-execute", connector_id, 4) == ["req-run", "apim-429"]
