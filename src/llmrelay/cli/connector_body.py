"""The connector body ``llmrelay connectors create|update`` sends: a ``--file`` (Kibana's
connector API body), then the flags over it, then the API key from the flag, the
environment or a prompt without echo."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from llmrelay.cli.common import err_console
from llmrelay.cli.json_input import read_json_file
from llmrelay.cli.remote import fail_plain

CONNECTOR_TYPE = ".gen-ai"
CONNECTOR_KEY_ENV = "LLMRELAY_CONNECTOR_API_KEY"
# What the connector API returns beside the body it takes: dropped from --file, so the
# output of `connectors get --json` can be edited and sent back.
_READ_ONLY = frozenset(
    {
        "id",
        "connector_type_id",
        "is_preconfigured",
        "is_deprecated",
        "is_missing_secrets",
        "is_system_action",
        "is_connector_type_deprecated",
        "referenced_by_count",
    }
)


class Provider(StrEnum):
    openai = "OpenAI"
    azure = "Azure OpenAI"
    other = "Other"


def _file_body(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = read_json_file(path, "connector file")
    if not isinstance(data, dict):
        raise fail_plain(f"connector file {path} must hold a JSON object")
    return data


def _apply_flags(
    body: dict[str, Any],
    name: str | None,
    provider: Provider | None,
    api_url: str | None,
    default_model: str | None,
) -> None:
    if name is not None:
        body["name"] = name
    config = dict(body.get("config") or {})
    for key, value in (
        ("apiProvider", provider.value if provider else None),
        ("apiUrl", api_url),
        ("defaultModel", default_model),
    ):
        if value is not None:
            config[key] = value
    body["config"] = config


def create_body(
    file: Path | None,
    name: str | None,
    provider: Provider | None,
    api_url: str | None,
    default_model: str | None,
    type_id: str | None = None,
) -> dict[str, Any]:
    """The body of a create, secrets still to add; names the flags a connector lacks.
    A route's body (``type_id`` or the file's type) is left to ``route_body``."""
    body = {
        k: v for k, v in _file_body(file).items() if k == "connector_type_id" or k not in _READ_ONLY
    }
    if type_id is not None:
        body["connector_type_id"] = type_id
    body.setdefault("connector_type_id", CONNECTOR_TYPE)
    if body["connector_type_id"] != CONNECTOR_TYPE:
        if name is not None:
            body["name"] = name
        return body
    _apply_flags(body, name, provider, api_url, default_model)
    missing = [
        flag
        for flag, present in (
            ("--name", body.get("name")),
            ("--provider", body["config"].get("apiProvider")),
            ("--url", body["config"].get("apiUrl")),
        )
        if not present
    ]
    if missing:
        raise fail_plain(f"missing {', '.join(missing)} (give flags or a --file)")
    return body


def file_changes(file: Path | None) -> dict[str, Any]:
    """What an update's --file changes (read before the server is asked anything)."""
    return {k: v for k, v in _file_body(file).items() if k not in _READ_ONLY}


def update_body(
    current: dict[str, Any],
    changes: dict[str, Any],
    name: str | None,
    provider: Provider | None,
    api_url: str | None,
    default_model: str | None,
) -> dict[str, Any]:
    """The body of an update: the current name and config, then --file, then flags."""
    body: dict[str, Any] = {"name": current.get("name"), "config": current.get("config")}
    body.update(changes)
    _apply_flags(body, name, provider, api_url, default_model)
    return body


def ensure_secrets(body: dict[str, Any], api_key: str | None, prompt: str) -> None:
    """Secrets from the flag/env, else the file, else a prompt without echo."""
    secrets = dict(body.get("secrets") or {})
    if api_key is not None:
        secrets["apiKey"] = api_key
    if not secrets:
        try:
            secrets["apiKey"] = typer.prompt(prompt, hide_input=True, err=True)
        except typer.Abort:
            err_console.print()  # end the prompt's line
            raise fail_plain(
                f"no connector API key: pass --api-key, set {CONNECTOR_KEY_ENV}, give "
                "secrets in --file, or type it at the prompt"
            ) from None
    body["secrets"] = secrets
