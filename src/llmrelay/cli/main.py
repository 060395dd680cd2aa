"""The ``llmrelay`` command (typer: typed options and generated ``--help`` for free)."""

from __future__ import annotations

import typer

from llmrelay.cli.accounts import keys_app, users_app
from llmrelay.cli.connectors import connectors_app
from llmrelay.cli.execute import demo_command, execute_command
from llmrelay.cli.help_format import HelpGroup
from llmrelay.cli.limits import limits_app
from llmrelay.cli.local_llm import local_llm_command
from llmrelay.cli.serve import serve_command
from llmrelay.cli.usage import events_command, usage_command

app = typer.Typer(
    name="llmrelay",
    cls=HelpGroup,
    help="Managed connectors to OpenAI, Azure OpenAI and OpenAI-compatible LLM servers.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve_command)
app.command("execute")(execute_command)
app.command("demo")(demo_command)
app.command("local-llm")(local_llm_command)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")
app.add_typer(connectors_app, name="connectors")
app.add_typer(limits_app, name="limits")
app.command("usage")(usage_command)
app.command("events")(events_command)


def main() -> None:
    app()
