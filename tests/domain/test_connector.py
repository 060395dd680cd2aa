"""Connector.from_kibana: the create body validated end to end (spec §5.2; checklist 20)."""

from __future__ import annotations

import json

import pytest

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import (
    GEN_AI,
    Connector,
    OtherConfig,
    config_to_dict,
    secrets_to_dict,
)
from llmrelay.errors import ConnectorValidationError

BODY: dict[str, object] = {
    "name": "My OpenAI",
    "connector_type_id": ".gen-ai",
    "config": {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1/chat/completions"},
    "secrets": {"apiKey": "sk-top-secret"},
}


def error_of(data: object, **kwargs: object) -> ConnectorValidationError:
    with pytest.raises(ConnectorValidationError) as info:
        Connector.from_kibana(data, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_valid_body_builds_a_connector() -> None:
    connector = Connector.from_kibana(BODY, id="abc")
    assert connector.id == "abc"
    assert connector.name == "My OpenAI"
    assert connector.connector_type_id == GEN_AI
    assert connector.provider == "OpenAI"
    assert connector.is_preconfigured is False
    assert connector.pki() is None
    assert config_to_dict(connector.config)["defaultModel"] == "gpt-4.1"


def test_generated_id_and_id_from_body() -> None:
    assert len(Connector.from_kibana(BODY).id) == 36
    assert Connector.from_kibana({**BODY, "id": "from-body"}).id == "from-body"
    assert Connector.from_kibana({**BODY, "id": "from-body"}, id="arg").id == "arg"


def test_preconfigured_shape_with_action_type_id() -> None:
    data = {
        "name": "local",
        "actionTypeId": ".gen-ai",
        "is_preconfigured": True,
        "config": {
            "apiProvider": "Other",
            "apiUrl": "http://localhost:1234/v1/chat/completions",
            "defaultModel": "local-model",
        },
        "secrets": {"apiKey": "x"},
    }
    connector = Connector.from_kibana(data, settings=ActionsSettings(allowedHosts=("localhost",)))
    assert connector.is_preconfigured
    assert isinstance(connector.config, OtherConfig)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"name": None}, "[name]: Required"),
        ({"name": ""}, "[name]: must be a non-empty string"),
        ({"name": "  "}, "[name]: must be a non-empty string"),
        ({"name": 3}, "[name]: must be a non-empty string"),
        ({"connector_type_id": None}, "[connector_type_id]: Required"),
        (
            {"connector_type_id": ".slack"},
            '[connector_type_id]: unsupported connector type ".slack"; only ".gen-ai" is supported',
        ),
        (
            {"actionTypeId": ".bedrock"},
            "connector_type_id and actionTypeId disagree; give only one",
        ),
        ({"id": ""}, "[id]: must be a non-empty string"),
        ({"is_preconfigured": "yes"}, "[is_preconfigured]: Expected boolean, received string"),
        ({"secret": {}}, 'Unrecognized keys: "secret"'),
    ],
)
def test_envelope_errors(patch: dict[str, object], message: str) -> None:
    data = {key: value for key, value in {**BODY, **patch}.items() if value is not None}
    err = error_of(data)
    assert str(err) == message
    assert err.kind == "connector"


def test_non_mapping_body() -> None:
    assert str(error_of([1, 2])) == "Expected object, received array"


def test_config_checked_before_secrets() -> None:
    err = error_of({"name": "x", "connector_type_id": ".gen-ai"})
    assert str(err) == (
        "error validating connector type config: "
        '[apiProvider]: Required; expected one of "OpenAI", "Azure OpenAI", "Other"'
    )


def test_missing_secrets() -> None:
    err = error_of({**BODY, "secrets": None})
    assert str(err) == (
        "error validating connector type secrets: "
        "[apiKey]: expected value of type [string] but got [undefined]"
    )


def test_allow_list_uses_given_settings() -> None:
    err = error_of(BODY, settings=ActionsSettings(allowedHosts=("localhost",)))
    assert "is not added to the Kibana config xpack.actions.allowedHosts" in str(err)


def test_secrets_never_reach_config_dict_or_repr() -> None:
    # checklist 20, at the domain level: what the API returns comes from config_to_dict
    connector = Connector.from_kibana(BODY)
    returned = json.dumps(config_to_dict(connector.config))
    for word in ("secrets", "apiKey", "certificateData", "privateKeyData", "caData", "sk-top"):
        assert word not in returned
    assert "sk-top-secret" not in repr(connector)
    assert "sk-top-secret" not in str(connector)
    assert secrets_to_dict(connector.secrets) == {"apiKey": "sk-top-secret"}


def test_connector_is_frozen() -> None:
    connector = Connector.from_kibana(BODY)
    with pytest.raises(AttributeError):
        connector.name = "other"  # type: ignore[misc]
