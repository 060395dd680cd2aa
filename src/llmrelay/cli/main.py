"""The ``llmrelay`` command (typer: typed options and generated ``--help`` for free)."""

from __future__ import annotations

import typer

from llmrelay.cli.accounts import keys_app, users_app
from llmrelay.cli.execute import demo_command, execute_command
from llmrelay.cli.serve import serve_command

app = typer.Typer(
    name="llmrelay",
    help="Managed connectors to OpenAI, Azure OpenAI and OpenAI-compatible LLM servers.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve_command)
app.command("execute")(execute_command)
app.command("demo")(demo_command)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")


def main() -> None:
    app()
