"""Config schema and custom validator (spec §1.2, §1.4; checklist 1-13)."""

from __future__ import annotations

import pytest

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import (
    AzureConfig,
    OpenAIConfig,
    OtherConfig,
    config_to_dict,
    validate_config,
    validate_config_rules,
)
from llmrelay.errors import ConnectorValidationError

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
AZURE_URL = (
    "https://My-test-resource-123.openai.azure.com/openai/deployments/NEW-DEPLOYMENT-321"
    "/chat/completions?api-version=2023-05-15"
)
PREFIX = "error validating connector type config: "
WRAP = PREFIX + "Error configuring OpenAI action: Error: "


@pytest.fixture
def settings() -> ActionsSettings:
    return ActionsSettings()


def config_error(raw: object, settings: ActionsSettings) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_config(raw, settings)
    assert info.value.kind == "config"
    return str(info.value)


def test_openai_without_default_model_gets_the_configured_default() -> None:
    # checklist 1
    config = validate_config(
        {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL}, ActionsSettings(defaultModel="gpt-x")
    )
    assert isinstance(config, OpenAIConfig)
    assert config_to_dict(config) == {
        "apiProvider": "OpenAI",
        "apiUrl": OPENAI_URL,
        "defaultModel": "gpt-x",
    }


def test_openai_default_is_gpt_4_1_out_of_the_box(settings: ActionsSettings) -> None:
    config = validate_config({"apiProvider": "OpenAI", "apiUrl": OPENAI_URL}, settings)
    assert config.defaultModel == "gpt-4.1"


def test_openai_keeps_given_default_model(settings: ActionsSettings) -> None:
    # checklist 2
    raw = {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "defaultModel": "gpt-3.5-turbo"}
    assert validate_config(raw, settings).defaultModel == "gpt-3.5-turbo"


def test_other_requires_default_model(settings: ActionsSettings) -> None:
    # checklist 3
    message = config_error({"apiProvider": "Other", "apiUrl": "http://localhost:1234/v1"}, settings)
    assert message == PREFIX + "[defaultModel]: Required"


def test_azure_default_model_optional_and_absent_stays_absent(settings: ActionsSettings) -> None:
    # checklist 4
    bare = validate_config({"apiProvider": "Azure OpenAI", "apiUrl": AZURE_URL}, settings)
    assert isinstance(bare, AzureConfig)
    assert "defaultModel" not in config_to_dict(bare)
    named = validate_config(
        {"apiProvider": "Azure OpenAI", "apiUrl": AZURE_URL, "defaultModel": "gpt-4o"}, settings
    )
    assert config_to_dict(named)["defaultModel"] == "gpt-4o"


def test_missing_api_provider_names_field_and_allowed_values(settings: ActionsSettings) -> None:
    # checklist 5
    message = config_error({"apiUrl": OPENAI_URL}, settings)
    assert message == (
        PREFIX + '[apiProvider]: Required; expected one of "OpenAI", "Azure OpenAI", "Other"'
    )


@pytest.mark.parametrize(
    ("value", "shown"), [("bad-one", '"bad-one"'), ("", '""'), (7, "number"), (["x"], "array")]
)
def test_unknown_api_provider(value: object, shown: str, settings: ActionsSettings) -> None:
    # checklist 6
    message = config_error({"apiProvider": value, "apiUrl": OPENAI_URL}, settings)
    assert message == (
        PREFIX + '[apiProvider]: Invalid enum value. Expected one of "OpenAI", '
        f'"Azure OpenAI", "Other", received {shown}'
    )


def test_unknown_provider_value_is_capped_in_length(settings: ActionsSettings) -> None:
    message = config_error({"apiProvider": "x" * 10_000, "apiUrl": OPENAI_URL}, settings)
    assert len(message) < 300


@pytest.mark.parametrize("provider", ["OpenAI", "Azure OpenAI"])
def test_missing_api_url(provider: str, settings: ActionsSettings) -> None:
    # checklist 7
    assert config_error({"apiProvider": provider}, settings) == PREFIX + "[apiUrl]: Required"


def test_url_without_scheme(settings: ActionsSettings) -> None:
    # checklist 8
    message = config_error(
        {"apiProvider": "OpenAI", "apiUrl": "example.com/do-something"}, settings
    )
    assert message == WRAP + "URL Error: Invalid URL: example.com/do-something"


def test_ftp_url(settings: ActionsSettings) -> None:
    # checklist 9
    message = config_error({"apiProvider": "OpenAI", "apiUrl": "ftp://example.com/x"}, settings)
    assert message == WRAP + "URL Error: Invalid protocol"


def test_url_outside_allowed_hosts() -> None:
    # checklist 10 (the API test's exact URL)
    url = "http://genAi.mynonexistent.com"
    message = config_error(
        {"apiProvider": "OpenAI", "apiUrl": url}, ActionsSettings(allowedHosts=("localhost",))
    )
    assert message == WRAP + (
        f'error validating url: target url "{url}" is not added to the Kibana config '
        "xpack.actions.allowedHosts"
    )


@pytest.mark.parametrize(
    ("allowed", "url", "ok"),
    [
        (("*",), "https://anything.example.org/v1", True),
        (("example.com",), "https://example.com/v1", True),
        (("example.com",), "https://EXAMPLE.com:8443/v1", True),
        (("example.com",), "https://api.example.com/v1", False),
        (("api.example.com",), "https://example.com/v1", False),
    ],
)
def test_allow_list_is_exact_hostname_or_star(allowed: tuple[str, ...], url: str, ok: bool) -> None:
    # checklist 11
    settings = ActionsSettings(allowedHosts=allowed)
    raw = {"apiProvider": "OpenAI", "apiUrl": url}
    if ok:
        assert validate_config(raw, settings).apiUrl == url
    else:
        assert "is not added to the Kibana config xpack.actions.allowedHosts" in config_error(
            raw, settings
        )


def test_pki_material_in_config_is_an_unrecognized_key(settings: ActionsSettings) -> None:
    # checklist 12
    raw = {"apiProvider": "Other", "apiUrl": "http://localhost/v1", "defaultModel": "m"}
    message = config_error({**raw, "certificateData": "abc", "caData": "def"}, settings)
    assert message == PREFIX + 'Unrecognized keys: "certificateData", "caData"'


def test_provider_specific_keys_are_unknown_elsewhere(settings: ActionsSettings) -> None:
    raw = {"apiProvider": "Azure OpenAI", "apiUrl": AZURE_URL, "organizationId": "org"}
    assert config_error(raw, settings) == PREFIX + 'Unrecognized keys: "organizationId"'


def test_numeric_strings_are_coerced(settings: ActionsSettings) -> None:
    # checklist 13
    raw = {
        "apiProvider": "OpenAI",
        "apiUrl": OPENAI_URL,
        "contextWindowLength": "128000",
        "temperature": "0.7",
    }
    stored = config_to_dict(validate_config(raw, settings))
    assert stored["contextWindowLength"] == 128000
    assert isinstance(stored["contextWindowLength"], int)
    assert stored["temperature"] == 0.7


@pytest.mark.parametrize("bad", ["abc", "", "1_000", "0x10", "NaN", "1e999", True])
def test_non_numbers_are_refused(bad: object, settings: ActionsSettings) -> None:
    raw = {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "temperature": bad}
    assert "[temperature]: " in config_error(raw, settings)


@pytest.mark.parametrize("field", ["apiUrl", "defaultModel", "organizationId", "projectId"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_strings_are_refused_naming_the_field(
    field: str, blank: str, settings: ActionsSettings
) -> None:
    raw = {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, field: blank}
    assert f"[{field}]: must not be empty or whitespace only" in config_error(raw, settings)


def test_blank_header_value_is_refused(settings: ActionsSettings) -> None:
    raw = {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "headers": {"X-Team": " "}}
    assert config_error(raw, settings) == (
        PREFIX + "[headers.X-Team]: must not be empty or whitespace only"
    )


def test_null_optional_field_is_refused_like_zod(settings: ActionsSettings) -> None:
    raw = {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "organizationId": None}
    assert config_error(raw, settings) == (
        PREFIX + "[organizationId]: Expected string, received null"
    )


def test_several_issues_are_listed_kibana_style(settings: ActionsSettings) -> None:
    raw = {"apiProvider": "Other", "apiUrl": 5, "headers": {"a": 1}}
    assert config_error(raw, settings) == PREFIX + (
        "[apiUrl]: Expected string, received number\n"
        "- [headers.a]: Expected string, received number\n"
        "- [defaultModel]: Required"
    )


@pytest.mark.parametrize("raw", [None, [], "x", 3])
def test_non_object_config(raw: object, settings: ActionsSettings) -> None:
    assert config_error(raw, settings).startswith(PREFIX + "Expected object, received ")


def test_full_other_config_round_trips(settings: ActionsSettings) -> None:
    raw = {
        "apiProvider": "Other",
        "apiUrl": "http://localhost:1234/v1/chat/completions",
        "defaultModel": "local-model",
        "verificationMode": "certificate",
        "headers": {"X-My-Custom-Header": "foo"},
        "contextWindowLength": 8192,
        "temperature": 0,
        "enableNativeFunctionCalling": True,
    }
    config = validate_config(raw, settings)
    assert isinstance(config, OtherConfig)
    assert config_to_dict(config) == raw
    assert validate_config(config, settings) == config


@pytest.mark.parametrize("provider", ["OpenAI", "Azure OpenAI", "Other"])
def test_verification_mode_accepted_for_every_provider(
    provider: str, settings: ActionsSettings
) -> None:
    raw = {"apiProvider": provider, "apiUrl": OPENAI_URL, "defaultModel": "m"}
    config = validate_config({**raw, "verificationMode": "none"}, settings)
    assert config.verificationMode == "none"
    bad = config_error({**raw, "verificationMode": "lax"}, settings)
    assert bad.startswith(PREFIX + "[verificationMode]: ")


def test_enable_native_function_calling_must_be_boolean(settings: ActionsSettings) -> None:
    raw = {"apiProvider": "Other", "apiUrl": OPENAI_URL, "defaultModel": "m"}
    message = config_error({**raw, "enableNativeFunctionCalling": "true"}, settings)
    assert message == PREFIX + "[enableNativeFunctionCalling]: Expected boolean, received string"


# --- the custom validator called directly (Kibana's index.test.ts cases) -----------------


def rules_error(config: dict[str, object], settings: ActionsSettings) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_config_rules(config, settings)
    return str(info.value)


def test_rules_empty_provider(settings: ActionsSettings) -> None:
    message = rules_error({"apiProvider": "", "apiUrl": OPENAI_URL}, settings)
    assert message == WRAP + "API Provider is not supported"


def test_rules_bad_provider(settings: ActionsSettings) -> None:
    message = rules_error({"apiProvider": "bad-one", "apiUrl": OPENAI_URL}, settings)
    assert message == WRAP + "API Provider is not supported: bad-one"


def test_rules_check_url_before_provider() -> None:
    settings = ActionsSettings(allowedHosts=("localhost",))
    message = rules_error({"apiProvider": "bad-one", "apiUrl": OPENAI_URL}, settings)
    assert "is not added to the Kibana config" in message
    message = rules_error({"apiProvider": "bad-one", "apiUrl": "nope"}, settings)
    assert message == WRAP + "URL Error: Invalid URL: nope"


def test_rules_pass_for_valid_config(settings: ActionsSettings) -> None:
    validate_config_rules({"apiProvider": "Other", "apiUrl": "http://localhost"}, settings)
