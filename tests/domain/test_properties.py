"""Arbitrary JSON-like input only ever raises the documented error types."""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import (
    AzureConfig,
    ConnectorSecrets,
    OpenAIConfig,
    OtherConfig,
    validate_config,
    validate_secrets,
)
from llmrelay.domain.params import (
    validate_execute_params,
    validate_params,
)
from llmrelay.domain.pki import decode_base64_lenient, rewrap_pem
from llmrelay.domain.subactions import SUB_ACTIONS
from llmrelay.errors import ConnectorValidationError, SubActionParamsError
from tests.helpers.soak import scaled

SETTINGS = ActionsSettings(allowedHosts=("localhost", "api.openai.com"))

KEYS = st.sampled_from(
    [
        "apiProvider",
        "apiUrl",
        "defaultModel",
        "headers",
        "temperature",
        "verificationMode",
        "contextWindowLength",
        "organizationId",
        "apiKey",
        "certificateData",
        "privateKeyData",
        "caData",
        "subAction",
        "subActionParams",
        "body",
        "stream",
        "timeout",
        "messages",
        "role",
        "content",
        "tools",
        "tool_choice",
        "function",
        "stop",
        "dashboardId",
    ]
) | st.text(max_size=8)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["OpenAI", "Azure OpenAI", "Other", "http://localhost/v1", "full", "0.7"])
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=25,
)

CONFIGS = st.fixed_dictionaries(
    {"apiProvider": st.sampled_from(["OpenAI", "Azure OpenAI", "Other", "x"])},
    optional={
        "apiUrl": st.sampled_from(
            ["http://localhost/v1", "https://api.openai.com/v1", "ftp://a", "x"]
        )
        | st.text(max_size=30),
        "defaultModel": SCALARS,
        "headers": JSON_LIKE,
        "temperature": SCALARS,
        "contextWindowLength": SCALARS,
        "verificationMode": SCALARS,
        "organizationId": SCALARS,
        "enableNativeFunctionCalling": SCALARS,
    },
)
PEMISH = st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=40)
SECRETS = st.fixed_dictionaries(
    {},
    optional={
        "apiKey": SCALARS,
        "certificateData": PEMISH | SCALARS,
        "privateKeyData": PEMISH | SCALARS,
        "caData": PEMISH | SCALARS,
    },
)


@settings(max_examples=scaled(300))
@given(JSON_LIKE | CONFIGS)
def test_validate_config_raises_only_validation_errors(raw: object) -> None:
    try:
        config = validate_config(raw, SETTINGS)
    except ConnectorValidationError as err:
        assert err.kind == "config"
        assert str(err).startswith("error validating connector type config: ")
    else:
        assert isinstance(config, OpenAIConfig | AzureConfig | OtherConfig)


MARKER = "S3cr3t-Marker"


def _mark(value: object) -> object:
    """Tag every string so a leaked secret value is recognisable in a message."""
    if isinstance(value, str):
        return value + MARKER
    if isinstance(value, dict):
        return {key: _mark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark(item) for item in value]
    return value


@settings(max_examples=scaled(300))
@given(JSON_LIKE | SECRETS)
def test_validate_secrets_raises_only_validation_errors(raw: object) -> None:
    try:
        secrets = validate_secrets(_mark(raw))
    except ConnectorValidationError as err:
        assert err.kind == "secrets"
        assert MARKER not in str(err)
    else:
        assert isinstance(secrets, ConnectorSecrets)
        assert secrets.apiKey or secrets.pki() is not None
        assert MARKER not in repr(secrets)


@settings(max_examples=scaled(300))
@given(JSON_LIKE)
def test_validate_execute_params_raises_only_params_errors(raw: object) -> None:
    try:
        sub_action, params = validate_execute_params(raw)
    except ConnectorValidationError as err:
        assert str(err).startswith("error validating action params: ")
    else:
        assert isinstance(sub_action, str)
        assert params is None or isinstance(params, dict)


@settings(max_examples=scaled(300))
@given(st.sampled_from(tuple(SUB_ACTIONS)), JSON_LIKE)
def test_validate_params_raises_only_params_errors(sub_action: str, raw: object) -> None:
    try:
        validate_params(SUB_ACTIONS[sub_action].params, raw)
    except SubActionParamsError as err:
        assert str(err).startswith("Request validation failed (")


@given(st.text())
def test_lenient_base64_never_fails(text: str) -> None:
    assert isinstance(decode_base64_lenient(text), bytes)
    assert isinstance(rewrap_pem(text), bytes)


@given(st.binary())
def test_base64_round_trip(data: bytes) -> None:
    assert decode_base64_lenient(base64.b64encode(data).decode()) == data


def test_huge_and_odd_inputs() -> None:
    huge = "A" * 2_000_000
    for raw in ({"apiKey": huge}, {"certificateData": huge, "privateKeyData": "é" * 1000}):
        try:
            validate_secrets(raw)
        except ConnectorValidationError as err:
            assert huge not in str(err)
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    for call in (
        lambda: validate_config(
            {"apiProvider": "OpenAI", "apiUrl": "http://localhost", "headers": deep}, SETTINGS
        ),
        lambda: validate_secrets({"apiKey": deep}),
    ):
        with contextlib.suppress(ConnectorValidationError):
            call()
