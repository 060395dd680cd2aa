"""The actions routes' body schemas: config-schema's messages with JavaScript type names."""

from __future__ import annotations

import pytest

from llmrelay.domain.request_bodies import (
    create_body,
    execute_params,
    js_type,
    update_body,
)
from llmrelay.errors import RequestBodyError


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "boolean"), (0, "number"), (1.5, "number"), ("", "string"),
     ([], "Array"), ({}, "Object")],
)  # fmt: skip
def test_js_type_names(value: object, name: str) -> None:
    assert js_type(value) == name


def test_create_body_fills_defaults_and_keeps_values() -> None:
    body = {"connector_type_id": ".gen-ai", "name": "n"}
    assert create_body(body) == {
        "name": "n",
        "connector_type_id": ".gen-ai",
        "config": {},
        "secrets": {},
    }


def test_update_body_allows_blank_secrets_only_when_keeping_secrets() -> None:
    body = {"name": "n", "secrets": {"apiKey": ""}}
    assert update_body(body, keep_secrets=True)["secrets"] == {"apiKey": ""}
    with pytest.raises(RequestBodyError, match=r"^\[request body.secrets.apiKey\]: value '' is"):
        update_body(body)


def test_blank_strings_are_found_at_any_depth_and_named_by_their_top_key() -> None:
    body = {"name": "n", "config": {"headers": {"a": ["ok", {"b": "\t"}]}}}
    with pytest.raises(RequestBodyError) as raised:
        update_body(body)
    assert str(raised.value) == "[request body.config.headers]: value '' is not valid"


def test_execute_params_returns_the_params_object() -> None:
    params = {"subAction": "run"}
    assert execute_params({"params": params}) is params  # the common case: no copy
    with pytest.raises(RequestBodyError) as raised:
        execute_params({"params": params, "x": 1})
    assert str(raised.value) == "[request body.x]: definition for this key is missing"
