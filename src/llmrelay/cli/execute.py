"""``llmrelay execute`` and ``llmrelay demo``: run a connector from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmrelay.cli.json_input import json_arg
from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord
from llmrelay.errors import ConnectorValidationError
from llmrelay.service import ExecutionResult, run_without_store

console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=2)


async def _run(
    connector: Connector, sub_action: str, params: dict[str, object], settings: ActionsSettings
) -> tuple[ExecutionResult, ExecutionRecord | None]:
    return await run_without_store(
        connector, sub_action, params, settings=settings, on_chunk=_write_chunk
    )


def _write_chunk(chunk: object) -> None:
    if isinstance(chunk, bytes):
        sys.stdout.write(chunk.decode("utf-8", "replace"))
    else:
        sys.stdout.write(json.dumps(chunk) + "\n")
    sys.stdout.flush()


def _report(result: ExecutionResult, record: ExecutionRecord | None) -> None:
    if result.data is not None or not result.ok:
        sys.stdout.write(json.dumps(result.to_kibana(), indent=2) + "\n")
    if record is not None:
        usage = record.usage
        console.print(
            f"outcome={record.outcome} model={record.model} "
            f"tokens prompt={usage.prompt_tokens} completion={usage.completion_tokens} "
            f"total={usage.total_tokens} usage_source={usage.usage_source} "
            f"duration={record.duration_ns / 1e6:.1f}ms",
            highlight=False,
        )


def execute_command(
    connector_file: Annotated[
        Path, typer.Option("--connector", "-c", help="Connector JSON as the Kibana API takes it.")
    ],
    sub_action: Annotated[str, typer.Option("--sub-action", "-a", help="run, stream, ...")] = "run",
    params: Annotated[
        str, typer.Option("--params", "-p", help="subActionParams as JSON, or @file.json.")
    ] = "{}",
) -> None:
    """Execute one sub-action of a connector defined in a JSON file."""
    data = json_arg(f"@{connector_file}", "connector")
    if not isinstance(data, dict):
        raise _fail("connector file must hold a JSON object")
    settings = ActionsSettings()
    try:
        connector = Connector.from_kibana(data, settings=settings, id="cli")
    except ConnectorValidationError as err:
        raise _fail(str(err)) from err
    sub_params = json_arg(params, "params")
    if not isinstance(sub_params, dict):
        raise _fail("params must be a JSON object")
    result, record = asyncio.run(_run(connector, sub_action, sub_params, settings))
    _report(result, record)
    if not result.ok:
        raise typer.Exit(code=1)


def demo_command() -> None:
    """Start a local OpenAI-compatible fake and execute a connector against it."""
    from llmrelay.testing import FakeUpstream

    with FakeUpstream() as upstream:
        connector = Connector.from_kibana(
            {
                "name": "Demo (local fake upstream)",
                "connector_type_id": ".gen-ai",
                "config": {
                    "apiProvider": "Other",
                    "apiUrl": upstream.url(),
                    "defaultModel": "local-model",
                },
                "secrets": {"apiKey": "placeholder"},
            },
            id="demo",
        )
        settings = ActionsSettings()
        body: dict[str, object] = {"messages": [{"role": "user", "content": "Hello world"}]}
        console.print(f"[bold]connector[/bold] {connector.name} -> {upstream.url()}")
        cases: tuple[tuple[str, dict[str, object]], ...] = (
            ("run", {"body": json.dumps(body)}),
            ("invokeStream", body),
        )
        for sub_action, params in cases:
            console.print(f"\n[bold]{sub_action}[/bold]")
            result, record = asyncio.run(_run(connector, sub_action, params, settings))
            _report(result, record)
