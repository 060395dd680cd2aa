"""One rule for connector ids and names: the library, the settings file and the service
refuse the same values with the same reason (domain/naming.py; deviations (m))."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrelay.domain.connectors import Connector
from llmrelay.errors import ConfigurationError, ConnectorBadRequestError, ConnectorValidationError
from llmrelay.service import Relay
from llmrelay.settings import load_settings
from tests.fixtures.service import make_settings

BODY: dict[str, object] = {
    "name": "ok",
    "connector_type_id": ".gen-ai",
    "config": {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1/chat/completions"},
    "secrets": {"apiKey": "sk-test"},
}
SHAPE = "[id]: must be 1-255 characters without control characters or slashes"
BAD_IDS = [("a/b", SHAPE), ("a\x01b", SHAPE), ("x" * 256, SHAPE)]


def _settings_error(tmp_path: Path, connector_id: str, name: str = "ok") -> str:
    entry = {connector_id: {"name": name, "actionTypeId": ".gen-ai"}}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            environ={}, overrides={"home": tmp_path, "xpack.actions.preconfigured": entry}
        )
    return str(caught.value)


@pytest.mark.parametrize(("connector_id", "issue"), BAD_IDS)
async def test_a_bad_id_is_refused_alike_everywhere(
    tmp_path: Path, connector_id: str, issue: str
) -> None:
    with pytest.raises(ConnectorValidationError) as library:
        Connector.from_kibana(BODY, id=connector_id)
    assert str(library.value).endswith(issue)
    assert issue.removeprefix("[id]: ") in _settings_error(tmp_path, connector_id)
    async with Relay.open(make_settings(tmp_path / "home")) as relay:
        with pytest.raises(ConnectorBadRequestError) as service:
            await relay.connectors.create("default", BODY, connector_id=connector_id)
    assert str(service.value) == issue


def test_a_control_character_in_a_name_is_refused_alike(tmp_path: Path) -> None:
    with pytest.raises(ConnectorValidationError) as library:
        Connector.from_kibana({**BODY, "name": "bad\x00name"})
    assert str(library.value).endswith("[name]: must not contain control characters")
    assert "must not contain control characters" in _settings_error(tmp_path, "c1", "bad\x00")


@pytest.mark.parametrize("reserved", ["__proto__", "constructor"])
def test_reserved_ids_are_refused_for_preconfigured_connectors(
    tmp_path: Path, reserved: str
) -> None:
    message = _settings_error(tmp_path, reserved)
    assert "invalid preconfigured connector id" in message
    assert "must not be __proto__ or constructor" in message
