"""Upstream error -> message rules (spec §1.5, §2.10, §4.2, §6.3; checklist 47-54)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from llmrelay.domain.params import SubActionParamsError
from llmrelay.errors import (
    ActionTypeDisabledError,
    ConnectorValidationError,
    ResponseValidationError,
    UnknownSubActionError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamTLSError,
    status_error,
)
from llmrelay.execution.errors import (
    EXECUTION_FAILED,
    FRAMEWORK_ERRORS,
    SDK_ERRORS,
    event_error_message,
    failure_result,
    framework_error_message,
    pki_rewrite,
    response_error_message,
)
from llmrelay.execution.subactions import TABLE

BAD_MODEL = {
    "error": {
        "message": "The model `bad model` does not exist",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


# --- getResponseErrorMessage ----------------------------------------------------------------
def test_no_status_nothing_known() -> None:
    assert response_error_message(UpstreamError("")) == "Unexpected API Error:  - Unknown error"


def test_no_status_message_only() -> None:
    assert (
        response_error_message(UpstreamError("a message")) == "Unexpected API Error:  - a message"
    )


def test_timeout_example_exact() -> None:
    err = UpstreamTimeoutError("timeout of 60000ms exceeded", code="ECONNABORTED")
    assert response_error_message(err) == (
        "Unexpected API Error: ECONNABORTED - timeout of 60000ms exceeded"
    )
    assert framework_error_message(err) == (
        "Status code: undefined. Message: Unexpected API Error: ECONNABORTED - "
        "timeout of 60000ms exceeded"
    )


def test_connection_refused() -> None:
    err = UpstreamConnectionError("connect ECONNREFUSED 127.0.0.1:9", code="ECONNREFUSED")
    assert framework_error_message(err) == (
        "Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - "
        "connect ECONNREFUSED 127.0.0.1:9"
    )


@pytest.mark.parametrize(
    "body",
    [{"error": {"message": "Resource not found"}}, {"error": "Resource not found"}],
)
def test_detail_from_object_or_string_error(body: object) -> None:
    err = status_error(404, "Resource Not Found", body)
    assert response_error_message(err) == "API Error: Resource Not Found - Resource not found"


def test_unauthorized_with_and_without_detail() -> None:
    with_detail = status_error(
        401, "Unauthorized", {"error": {"message": "The api key was invalid."}}
    )
    assert (
        response_error_message(with_detail) == "Unauthorized API Error - The api key was invalid."
    )
    assert response_error_message(status_error(401, "Unauthorized", "")) == "Unauthorized API Error"


def test_422_full_service_message() -> None:
    err = status_error(422, "Unprocessable Entity", BAD_MODEL)
    assert framework_error_message(err) == (
        "Status code: 422. Message: API Error: Unprocessable Entity - "
        "The model `bad model` does not exist"
    )


def test_lm_studio_string_error() -> None:
    err = status_error(400, "Bad Request", {"error": "LM Studio error"})
    assert response_error_message(err) == "API Error: Bad Request - LM Studio error"


def test_no_detail_when_body_is_not_an_error_object() -> None:
    assert response_error_message(status_error(500, "Internal Server Error", "<html>")) == (
        "API Error: Internal Server Error"
    )
    assert response_error_message(status_error(502, "Bad Gateway", {"message": "x"})) == (
        "API Error: Bad Gateway"
    )
    assert response_error_message(status_error(400, "Bad Request", {"error": {"code": 1}})) == (
        "API Error: Bad Request"
    )


def test_empty_reason_falls_back_to_standard_phrase() -> None:
    err = status_error(429, "", {"error": {"message": "Rate limit reached"}})
    assert response_error_message(err) == "API Error: Too Many Requests - Rate limit reached"
    assert response_error_message(status_error(599, "", None)) == "API Error: "


def test_error_body_arriving_as_stream_text_is_parsed() -> None:
    # a streaming request failing with an error status: the body is read and parsed
    raw = b'{"error": {"message": "context length exceeded"}}'
    assert response_error_message(status_error(400, "Bad Request", raw)) == (
        "API Error: Bad Request - context length exceeded"
    )
    text = '{"error": "busy"}'
    assert response_error_message(status_error(503, "Service Unavailable", text)) == (
        "API Error: Service Unavailable - busy"
    )


AZURE_NOTE = (
    "API Error: 404 Unrecognized request argument supplied: functions\n        \n\n"
    "Function support with Azure OpenAI API was added in 2023-07-01-preview. "
    "Update the API version of the Azure OpenAI connector in use\n      "
)


def test_azure_functions_note_from_message() -> None:
    err = UpstreamError("404 Unrecognized request argument supplied: functions")
    assert response_error_message(err) == AZURE_NOTE


def test_azure_functions_note_from_status_and_body() -> None:
    body = {"error": {"message": "Unrecognized request argument supplied: functions"}}
    err = status_error(404, "Not Found", body)
    assert "Function support with Azure OpenAI API was added" in response_error_message(err)
    assert framework_error_message(err) == f"Status code: 404. Message: {AZURE_NOTE}"


def test_status_subclasses() -> None:
    assert type(status_error(401, "Unauthorized", None)).__name__ == "UpstreamUnauthorizedError"
    plain = UpstreamStatusError(418, "I'm a Teapot", None)
    assert framework_error_message(plain) == "Status code: 418. Message: API Error: I'm a Teapot"


def test_messages_carry_no_request_data() -> None:
    err = status_error(401, "Unauthorized", {"error": {"message": "Incorrect API key provided"}})
    message = framework_error_message(err)
    assert "Bearer" not in message
    assert "sk-" not in message


# --- PKI rewrites --------------------------------------------------------------------------------
def test_pki_leaf_signature() -> None:
    original = (
        "Status code: undefined. Message: Unexpected API Error: "
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE - unable to verify the first certificate"
    )
    assert pki_rewrite(original) == (
        f"Certificate error: {original}. Please check if your PKI certificates are valid "
        "or adjust SSL verification mode."
    )


@pytest.mark.parametrize("code", ["ERR_TLS_CERT_ALTNAME_INVALID", "ERR_TLS_HANDSHAKE"])
def test_pki_handshake(code: str) -> None:
    err = UpstreamTLSError("hostname mismatch", code=code)
    original = framework_error_message(err)
    rewritten = pki_rewrite(original)
    assert rewritten.startswith("TLS handshake failed: Status code: undefined.")
    assert rewritten == (
        f"TLS handshake failed: {original}. "
        "Verify server certificate hostname and CA configuration."
    )


def test_pki_other_messages_unchanged() -> None:
    assert pki_rewrite("Status code: 500. Message: API Error: x") == (
        "Status code: 500. Message: API Error: x"
    )


# --- errorSource and the envelope ----------------------------------------------------------
def test_async_iterator_429_is_a_user_error() -> None:
    err = status_error(429, "Too Many Requests", None)
    assert TABLE["invokeAsyncIterator"].errors.source(err) == "user"
    assert TABLE["invokeStream"].errors.source(err) == "framework"
    assert TABLE["run"].errors.source(err) == "framework"


def test_validation_errors_are_user_errors() -> None:
    envelope = ConnectorValidationError("params", "[subAction]: Required")
    refused = failure_result("c", envelope, FRAMEWORK_ERRORS, pki=False)
    assert (refused.message, refused.retry, refused.error_source) == (
        "error validating action params: [subAction]: Required",
        False,
        "user",
    )
    bad = failure_result("c", SubActionParamsError("[body]: Required"), SDK_ERRORS, pki=False)
    assert (bad.message, bad.service_message, bad.retry, bad.error_source) == (
        EXECUTION_FAILED,
        "Request validation failed ([body]: Required)",
        True,
        "user",
    )


def test_other_errors_are_framework_errors() -> None:
    for err in (
        status_error(500, "Internal Server Error", None),
        UpstreamTimeoutError("t", code="ECONNABORTED"),
    ):
        assert SDK_ERRORS.source(err) == "framework"
    for own in (
        UnknownSubActionError("x", "c"),
        ResponseValidationError("[choices]: Required"),
        ActionTypeDisabledError(".gen-ai"),
    ):
        result = failure_result("c", own, FRAMEWORK_ERRORS, pki=False)
        assert result.error_source == "framework"
        assert str(own) in (result.message, result.service_message)
    disabled = failure_result("c", ActionTypeDisabledError(".gen-ai"), FRAMEWORK_ERRORS, pki=False)
    assert disabled.retry is False


def test_upstream_failures_read_by_the_sub_actions_rules() -> None:
    err = status_error(404, "Not Found", {"error": {"message": "no such model"}})
    framework = failure_result("c", err, FRAMEWORK_ERRORS, pki=False)
    sdk = failure_result("c", err, SDK_ERRORS, pki=False)
    assert (
        framework.service_message
        == "Status code: 404. Message: API Error: Not Found - no such model"
    )
    assert sdk.service_message == "API Error: Not Found - no such model"
    assert framework.message == sdk.message == EXECUTION_FAILED
    tls = UpstreamTLSError("unable to verify UNABLE_TO_VERIFY_LEAF_SIGNATURE", code="E")
    rewritten = failure_result("c", tls, FRAMEWORK_ERRORS, pki=True).service_message
    plain = failure_result("c", tls, FRAMEWORK_ERRORS, pki=False).service_message
    assert rewritten is not None and rewritten.startswith("Certificate error: ")
    assert plain is not None and not plain.startswith("Certificate error: ")


# --- execution-level texts -----------------------------------------------------------------------
def test_unknown_sub_action_message() -> None:
    assert str(UnknownSubActionError("invalidAction", "abc")) == (
        'Sub action "invalidAction" is not registered. Connector id: abc. '
        "Connector name: OpenAI. Connector type: .gen-ai"
    )


def test_event_error_message() -> None:
    service = framework_error_message(status_error(422, "Unprocessable Entity", BAD_MODEL))
    assert event_error_message(EXECUTION_FAILED, service, True) == (
        "an error occurred while running the action: Status code: 422. Message: API Error: "
        "Unprocessable Entity - The model `bad model` does not exist; retry: true"
    )
    assert event_error_message("m", None, False) == "m"
    assert event_error_message("m", "", None) == "m"
    assert event_error_message("m", "s", "2024-01-01T00:00:00.000Z") == (
        "m: s; retry at 2024-01-01T00:00:00.000Z"
    )


def test_event_error_message_with_datetime() -> None:
    moment = datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=1)))
    assert event_error_message("m", None, moment) == "m; retry at 2024-01-01T00:02:03.456Z"
    naive = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    assert event_error_message("m", None, naive) == "m; retry at 2024-01-01T00:00:00.000Z"
