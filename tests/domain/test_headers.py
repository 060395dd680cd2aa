"""``config.headers``: names must be HTTP tokens and not ones the client sets, values carry
no line break or control character; refused at save with a message naming the header
(domain/headers.py, docs/deviations.md i)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmrelay.cli.main import app
from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector, validate_config
from llmrelay.domain.headers import RESERVED_HEADERS
from llmrelay.errors import ConnectorValidationError
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service

PREFIX = "error validating connector type config: "
SECRET_VALUE = "sk-header-secret-4242"


def _config(headers: object) -> dict[str, object]:
    return {
        "apiProvider": "Other",
        "apiUrl": "http://127.0.0.1:9/v1/chat/completions",
        "defaultModel": "local",
        "headers": headers,
    }


def config_error(headers: object) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_config(_config(headers), ActionsSettings())
    assert info.value.kind == "config"
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", 'header name "" is empty'),
        ("X Y", 'header name "X Y" is not a valid HTTP token'),
        (" X-A", 'header name " X-A" is not a valid HTTP token'),
        ("X-A:", 'header name "X-A:" is not a valid HTTP token'),
        ("X\r\nInjected", 'header name "X\\r\\nInjected" is not a valid HTTP token'),
        ("X\x00A", 'header name "X\\u0000A" is not a valid HTTP token'),
        ("Ünïcode", 'header name "Ünïcode" is not a valid HTTP token'),
        ("(comment)", 'header name "(comment)" is not a valid HTTP token'),
        ("Host", 'header name "Host" is not allowed: the HTTP client sets it from apiUrl'),
        (
            "content-length",
            'header name "content-length" is not allowed: the HTTP client sets it from the '
            "request body",
        ),
        (
            "Transfer-Encoding",
            'header name "Transfer-Encoding" is not allowed: it is a hop-by-hop header, '
            "managed by the HTTP client",
        ),
        (
            "CONNECTION",
            'header name "CONNECTION" is not allowed: it is a hop-by-hop header, managed by '
            "the HTTP client",
        ),
    ],
)
def test_bad_names_are_refused_by_name(name: str, message: str) -> None:
    assert config_error({name: "v"}) == f"{PREFIX}[headers]: {message}"


@pytest.mark.parametrize("name", sorted(RESERVED_HEADERS))
def test_every_reserved_name_is_refused_in_any_case(name: str) -> None:
    for spelling in (name, name.upper(), name.title()):
        assert f'header name "{spelling}" is not allowed: ' in config_error({spelling: "v"})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"{SECRET_VALUE}\r\nX-Injected: 1", "has a line break (CR or LF) in its value"),
        (f"{SECRET_VALUE}\n", "has a line break (CR or LF) in its value"),
        (f"a\rb{SECRET_VALUE}", "has a line break (CR or LF) in its value"),
        (f"{SECRET_VALUE}\x00", "has a control character in its value"),
        (f"{SECRET_VALUE}\x1b[0m", "has a control character in its value"),
        (f"{SECRET_VALUE}\x7f", "has a control character in its value"),
    ],
)
def test_bad_values_are_refused_without_repeating_them(value: str, reason: str) -> None:
    message = config_error({"X-Api-Token": value})
    assert message == f'{PREFIX}[headers]: header "X-Api-Token" {reason}'
    assert SECRET_VALUE not in message


def test_good_headers_pass_unchanged() -> None:
    headers = {
        "X-My-Custom-Header": "foo",
        "Authorization": "override",
        "x!#$%&'*+-.^_`|~09az": "every tchar in the name",
        "X-Tabbed": "a\tb",
        "X-Text": "déjà vu, with spaces; and = signs",
        "Hosting": "a name that only starts like a reserved one",
    }
    config = validate_config(_config(headers), ActionsSettings())
    assert config.headers == headers


def test_every_problem_is_listed_with_the_schema_issues() -> None:
    message = config_error({"": "a", "Keep-Alive": "b", "X-Ok": "c", "X-Bad": "d\ne", "X-N": 1})
    assert message == (
        f"{PREFIX}[headers.X-N]: Expected string, received number"
        '\n- [headers]: header name "" is empty'
        '\n- [headers]: header name "Keep-Alive" is not allowed: it is a hop-by-hop header, '
        "managed by the HTTP client"
        '\n- [headers]: header "X-Bad" has a line break (CR or LF) in its value'
    )


def test_a_long_name_is_shortened_in_the_message() -> None:
    message = config_error({"X " + "a" * 500: "v"})
    assert message.endswith('..." is not a valid HTTP token') and len(message) < 200


def test_from_kibana_applies_the_rule() -> None:
    with pytest.raises(ConnectorValidationError) as info:
        Connector.from_kibana(
            {
                "name": "n",
                "connector_type_id": ".gen-ai",
                "config": _config({"X Y": "v"}),
                "secrets": {"apiKey": "k"},
            }
        )
    assert str(info.value).endswith('[headers]: header name "X Y" is not a valid HTTP token')


# --- where connectors are saved ---------------------------------------------------------------
def test_the_api_refuses_a_bad_header_at_create_and_update(
    service: Service, upstream: FakeUpstream
) -> None:
    body = {
        "name": "Headers",
        "connector_type_id": ".gen-ai",
        "config": {**_config({"X-Ok": "1"}), "apiUrl": upstream.url()},
        "secrets": {"apiKey": "k"},
    }
    xsrf = {"kbn-xsrf": "true"}
    with service.client(service.admin, base="/s/headers") as client:
        bad = {**body, "config": {**body["config"], "headers": {"": "v"}}}
        refused = client.post("/api/actions/connector", json=bad, headers=xsrf)
        assert refused.status_code == 400
        assert refused.json()["message"] == f'{PREFIX}[headers]: header name "" is empty'
        assert client.get("/api/actions/connectors").json() == []

        created = client.post("/api/actions/connector", json=body, headers=xsrf)
        assert created.status_code == 200, created.text
        connector_id = created.json()["id"]
        update = {
            "name": "Headers",
            "config": {**body["config"], "headers": {"X Y": "v"}},
            "secrets": {"apiKey": "k"},
        }
        changed = client.put(f"/api/actions/connector/{connector_id}", json=update, headers=xsrf)
        assert changed.status_code == 400
        assert changed.json()["message"].endswith(
            '[headers]: header name "X Y" is not a valid HTTP token'
        )
        # the stored connector is unchanged and its good header still goes out
        executed = client.post(
            f"/api/actions/connector/{connector_id}/_execute",
            json={"params": {"subAction": "run", "subActionParams": {"body": "{}"}}},
            headers=xsrf,
        )
    assert executed.json()["status"] == "ok", executed.text
    assert upstream.last_request.headers["x-ok"] == "1"


def test_serve_says_so_in_one_line_before_starting(tmp_path: Path) -> None:
    """Preconfigured connectors (kibana.yml style) go through the same rule. The server
    validates them in its lifespan, where a failure is a logged traceback; the CLI checks
    them with the settings, before anything starts."""
    settings_file = tmp_path / "kibana.yml"
    settings_file.write_text(
        "xpack.encryptedSavedObjects.encryptionKey: " + "k" * 40 + "\n"
        "xpack.actions.preconfigured:\n"
        "  bad-headers:\n"
        "    name: Preconfigured\n"
        "    actionTypeId: .gen-ai\n"
        "    config: {apiProvider: Other, apiUrl: 'http://127.0.0.1:9/v1', defaultModel: m,\n"
        "             headers: {'X Y': v}}\n"
        f"    secrets: {{apiKey: {SECRET_VALUE}}}\n",
        encoding="utf-8",
    )
    env = {"LLMRELAY_HOME": str(tmp_path / "home"), "LLMRELAY_ADMIN_PASSWORD": "a" * 16}
    for command in (["serve", "--port", "0"], ["users", "list"]):
        result = CliRunner().invoke(app, [*command, "-c", str(settings_file)], env=env)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            f"error: xpack.actions.preconfigured.bad-headers: {PREFIX}[headers]: "
            'header name "X Y" is not a valid HTTP token'
        )
        assert SECRET_VALUE not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())
