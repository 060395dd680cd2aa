"""A route's config: defaults filled in, the value rules with messages naming the
problem, and no secrets."""

from __future__ import annotations

import pytest

from llmrelay.domain.connector_types import CONNECTOR_TYPES, connector_type
from llmrelay.domain.routes import (
    ROUTE,
    route_config_to_dict,
    validate_route_config,
    validate_route_secrets,
)
from llmrelay.errors import ConnectorValidationError


def test_defaults_are_filled_in() -> None:
    config = validate_route_config({"targets": [{"connectorId": "a"}]})
    assert route_config_to_dict(config) == {
        "targets": [{"connectorId": "a", "weight": 1}],
        "fallbacks": [],
        "retries": 0,
        "cooldownSeconds": 30,
    }
    assert config.connector_ids() == [("targets.0.connectorId", "a")]


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ([], "Expected object, received array"),
        ({"targets": []}, "[targets]: a route needs at least one target"),
        ({"targets": [{}]}, "[targets.0.connectorId]: Required"),
        (
            {"targets": [{"connectorId": " "}]},
            "[targets.0.connectorId]: must not be empty or whitespace only",
        ),
        (
            {"targets": [{"connectorId": "a", "weight": -3}]},
            "[targets.0.weight]: weight must be 1 or more, got -3",
        ),
        (
            {"targets": [{"connectorId": "a"}], "fallbacks": "b"},
            "[fallbacks]: Expected array, received string",
        ),
        (
            {"targets": [{"connectorId": "a"}], "retries": None},
            "[retries]: Expected number, received null",
        ),
    ],
)
def test_refusals_name_the_problem(raw: object, detail: str) -> None:
    with pytest.raises(ConnectorValidationError) as caught:
        validate_route_config(raw)
    assert str(caught.value) == f"error validating connector type config: {detail}"


def test_several_problems_are_listed() -> None:
    with pytest.raises(ConnectorValidationError) as caught:
        validate_route_config({"targets": [{"connectorId": "a", "weight": 0}], "retries": -1})
    assert caught.value.detail == (
        "[targets.0.weight]: weight must be 1 or more, got 0\n"
        "- [retries]: retries must be 0 or more, got -1"
    )


def test_no_secrets() -> None:
    validate_route_secrets({})
    validate_route_secrets(None)
    with pytest.raises(ConnectorValidationError):
        validate_route_secrets({"apiKey": "sk"})


def test_the_registry_knows_both_types() -> None:
    assert set(CONNECTOR_TYPES) == {".gen-ai", ROUTE}
    assert connector_type(".slack") is None
    kind = connector_type(ROUTE)
    assert kind is not None
    assert kind.listing()["id"] == ROUTE
