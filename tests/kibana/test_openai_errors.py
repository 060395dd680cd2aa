"""Kibana's ``getResponseErrorMessage`` tests (``openai.test.ts``) over HTTP: what an
upstream failure becomes in the ``_execute`` answer, through the framework's wrapper."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from llmrelay.testing import FakeUpstream
from tests.kibana.conftest import SAMPLE, Connectors, Kibana, M, execute


# --- errors (getResponseErrorMessage, through the framework's wrapper) --------------------
@pytest.mark.parametrize(
    ("status", "error", "service_message"),
    [
        (
            404,
            {"error": {"message": "Resource not found"}},
            "Status code: 404. Message: API Error: Not Found - Resource not found",
        ),
        (  # LM Studio's shape: the error is a plain string
            404,
            {"error": "Resource not found"},
            "Status code: 404. Message: API Error: Not Found - Resource not found",
        ),
        (
            401,
            {"error": {"message": "The api key was invalid."}},
            "Status code: 401. Message: Unauthorized API Error - The api key was invalid.",
        ),
    ],
)
def test_error_messages(
    kibana: Kibana,
    connectors: Connectors,
    upstream: FakeUpstream,
    status: int,
    error: object,
    service_message: str,
) -> None:
    upstream.fail(status, error)
    result = execute(kibana, connectors.openai, "run", {"body": f'{{"messages":{M}}}'}).json()
    assert result["status"] == "error"
    assert result["message"] == "an error occurred while running the action"
    assert result["service_message"] == service_message
    assert result["retry"] is True


def test_unknown_error_without_a_status(kibana: Kibana) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector_id = kibana.create("default", url=f"http://127.0.0.1:{port}/v1/chat/completions")
    result = execute(kibana, connector_id, "run", {"body": f'{{"messages":{M}}}'}).json()
    assert result["status"] == "error"
    assert result["service_message"].startswith(
        "Status code: undefined. Message: Unexpected API Error: "
    )
    assert "None" not in result["service_message"]


def test_async_iterator_rate_limit_is_a_user_error(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    upstream.fail(429, "Rate limit reached")
    result = execute(kibana, connectors.openai, "invokeAsyncIterator", SAMPLE).json()
    assert result["status"] == "error" and result["errorSource"] == "user"


def test_azure_functions_error_explains_the_api_version(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    upstream.fail(404, "Unrecognized request argument supplied: functions")
    result: dict[str, Any] = execute(
        kibana, connectors.azure, "run", {"body": f'{{"messages":{M}}}'}
    ).json()
    assert (
        "Function support with Azure OpenAI API was added in 2023-07-01-preview"
        in (result["service_message"])
    )
