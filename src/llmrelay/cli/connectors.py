"""``llmrelay connectors ...``: the connector API of a running llmrelay, from a shell."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from llmrelay.cli.common import err_console
from llmrelay.cli.connector_body import (
    CONNECTOR_KEY_ENV,
    Provider,
    create_body,
    ensure_secrets,
    file_changes,
    update_body,
)
from llmrelay.cli.connector_run import print_summary, run_stream, run_test, seed_body
from llmrelay.cli.json_input import json_arg
from llmrelay.cli.remote import (
    EXIT_REMOTE,
    EXIT_USAGE,
    JsonOption,
    RelayKeyOption,
    Remote,
    SpaceOption,
    UrlOption,
    cell,
    confirm_delete,
    fail_plain,
    mask,
    open_remote,
    out,
    path_id,
    print_json,
    reported,
)
from llmrelay.cli.route_body import (
    CooldownOption,
    FallbackOption,
    KindOption,
    RetriesOption,
    TargetOption,
    apply_route_flags,
    is_route,
    route_rows,
)
from llmrelay.domain.routes import ROUTE
from llmrelay.errors import RemoteError

connectors_app = typer.Typer(
    help="List, create, change, delete and test connectors on a running llmrelay.",
    no_args_is_help=True,
)

TEST_MESSAGE = "Hello world"
ConnectorId = Annotated[
    str,
    typer.Argument(
        help="The connector id, or its name (an id wins; a name shared by several "
        "connectors is an error listing them).",
        show_default=False,
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="JSON body as Kibana's connector API takes it (name, config, secrets); "
        "flags override its values.",
        show_default=False,
    ),
]
NameOption = Annotated[str | None, typer.Option("--name", help="Display name.")]
ProviderOption = Annotated[
    Provider | None,
    typer.Option("--provider", help="config.apiProvider.", case_sensitive=False),
]
ApiUrlOption = Annotated[
    str | None,
    typer.Option("--url", help="config.apiUrl: the chat completions URL of the model server."),
]
DefaultModelOption = Annotated[
    str | None, typer.Option("--default-model", help="config.defaultModel.")
]
ConnectorKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=CONNECTOR_KEY_ENV,
        help="secrets.apiKey of the model server. Prefer the environment variable, or leave "
        "it out to be asked without echo, so the key stays out of shell history.",
        show_default=False,
    ),
]


# --- helpers -------------------------------------------------------------------------
def _headers_summary(headers: object) -> str:
    """Header names only: values may be credentials."""
    if isinstance(headers, dict) and headers:
        return ", ".join(sorted(str(k) for k in headers)) + " (values hidden)"
    return ""


def _flags(view: Mapping[str, Any]) -> str:
    marks = []
    if view.get("is_preconfigured"):
        marks.append("preconfigured")
    if view.get("is_missing_secrets"):
        marks.append("missing secrets")
    return ", ".join(marks)


def _print_connector(view: Mapping[str, Any], api_key: str | None = None) -> None:
    config = view.get("config") or {}
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, object]] = [
        ("id", view.get("id")),
        ("name", view.get("name")),
        ("type", view.get("connector_type_id")),
        ("provider", config.get("apiProvider")),
        ("url", config.get("apiUrl")),
        ("default model", config.get("defaultModel")),
        ("headers", _headers_summary(config.get("headers"))),
        ("TLS verification", config.get("verificationMode")),
        ("flags", _flags(view)),
    ]
    if isinstance(config, dict) and view.get("connector_type_id") == ROUTE:
        rows[3:8] = route_rows(config)
    if api_key is not None:
        rows.append(("api key", mask(api_key)))
    for label, value in rows:
        if value not in (None, ""):
            table.add_row(label, cell(value))
    out().print(table)


def _get(remote: Remote, ref: str) -> dict[str, Any]:
    """The connector whose id is ``ref``, else the one named ``ref`` in the space (exact,
    then ignoring case); when none is, the server's 404 for the id."""
    try:
        view: dict[str, Any] = remote.get(f"/actions/connector/{path_id(ref)}", expect=dict)
        return view
    except RemoteError as err:
        if err.status != 404:
            raise
        not_found = err
    views: list[dict[str, Any]] = remote.get("/actions/connectors", expect=list)
    named = [v for v in views if v.get("name") == ref]
    if not named:
        named = [v for v in views if str(v.get("name", "")).casefold() == ref.casefold()]
    if not named:
        raise not_found
    if len(named) > 1:
        matches = ", ".join(f"{v.get('id')} ({v.get('name')})" for v in named)
        raise RemoteError(
            f'{len(named)} connectors are named "{ref}" in space {remote.target.space}: '
            f"{matches}; give the id instead",
            EXIT_USAGE,
        )
    return named[0]


# --- list / get ------------------------------------------------------------------------
@connectors_app.command("list")
def list_connectors(
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """List the connectors of a space."""
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        views = remote.get("/actions/connectors", expect=list)
    if as_json:
        print_json(views)
        return
    if not views:
        err_console.print(f"no connectors in space {space}", markup=False)
        return
    table = Table("id", "name", "provider", "url", "default model", "flags")
    for view in views:
        config = view.get("config") or {}
        table.add_row(
            cell(view.get("id")),
            cell(view.get("name")),
            cell(config.get("apiProvider")),
            cell(config.get("apiUrl")),
            cell(config.get("defaultModel")),
            _flags(view),
        )
    out().print(table)


@connectors_app.command("get")
def get_connector(
    connector_id: ConnectorId,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Show one connector (secrets are never returned by the server)."""
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        view = _get(remote, connector_id)
    if as_json:
        print_json(view)
        return
    _print_connector(view)


# --- create / update / delete ------------------------------------------------------------
@connectors_app.command("create")
def create_connector(
    file: FileOption = None,
    name: NameOption = None,
    provider: ProviderOption = None,
    api_url: ApiUrlOption = None,
    default_model: DefaultModelOption = None,
    api_key: ConnectorKeyOption = None,
    connector_id: Annotated[
        str | None, typer.Option("--id", help="Choose the id (default: generated).")
    ] = None,
    kind: KindOption = None,
    targets: TargetOption = None,
    fallbacks: FallbackOption = None,
    retries: RetriesOption = None,
    cooldown: CooldownOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Create a connector (or, with --type route, a route) from --file and/or flags."""
    body = create_body(file, name, provider, api_url, default_model, kind and kind.type_id)
    if is_route(body):
        apply_route_flags(body, (targets, fallbacks, retries, cooldown))
    path = "/actions/connector" + (f"/{path_id(connector_id)}" if connector_id else "")
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        if not is_route(body):
            ensure_secrets(body, api_key, "Connector API key")
        view = remote.post(path, body, expect=dict)
    _show_saved(view, "created", space, as_json, body["secrets"].get("apiKey"))


@connectors_app.command("update")
def update_connector(
    connector_id: ConnectorId,
    file: FileOption = None,
    name: NameOption = None,
    provider: ProviderOption = None,
    api_url: ApiUrlOption = None,
    default_model: DefaultModelOption = None,
    api_key: ConnectorKeyOption = None,
    targets: TargetOption = None,
    fallbacks: FallbackOption = None,
    retries: RetriesOption = None,
    cooldown: CooldownOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Change a connector: the current name and config, then --file, then flags.

    The server replaces secrets on every update and never returns them, so the API key
    is needed again (flag, environment, secrets in --file, or the prompt).
    """
    changes = file_changes(file)
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        current = _get(remote, connector_id)
        if is_route(current):
            body = update_body(current, changes, name, None, None, None)
            apply_route_flags(body, (targets, fallbacks, retries, cooldown))
        else:
            body = update_body(current, changes, name, provider, api_url, default_model)
            ensure_secrets(body, api_key, "Connector API key (update replaces the secrets)")
        view = remote.put(f"/actions/connector/{path_id(current['id'])}", body, expect=dict)
    _show_saved(view, "updated", space, as_json, body["secrets"].get("apiKey"))


def _show_saved(
    view: Mapping[str, Any], verb: str, space: str, as_json: bool, api_key: str | None
) -> None:
    """What create and update print: the server's view, and the key sent, masked."""
    if as_json:
        print_json(view)
        return
    out().print(f"{verb} connector {view.get('id')} in space {space}", markup=False)
    _print_connector(view, api_key=api_key)


@connectors_app.command("delete")
def delete_connector(
    connector_id: ConnectorId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Delete a connector (asks first unless --yes)."""
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        view = _get(remote, connector_id)
        connector_id = str(view["id"])
        if not yes:
            question = f"Delete connector {view.get('name')!r} ({connector_id}) in space {space}?"
            confirm_delete(question)
        remote.delete(f"/actions/connector/{path_id(connector_id)}")
    if as_json:
        print_json({"id": connector_id, "deleted": True})
        return
    out().print(f"deleted connector {connector_id} in space {space}", markup=False)


# --- test ----------------------------------------------------------------------------
def _given_body(body: str | None) -> dict[str, Any] | None:
    if body is None:
        return None
    data = json_arg(body, "--body")
    if not isinstance(data, dict):
        raise fail_plain("--body must be a JSON object (an OpenAI chat completions body)")
    return data


@connectors_app.command("test")
def test_connector(
    connector_id: ConnectorId,
    body: Annotated[
        str | None,
        typer.Option(
            "--body",
            help="OpenAI chat body as JSON, or @file.json "
            '(default: {"model": <default model>, "messages": [{"role": "user", '
            '"content": "Hello world"}]}).',
            show_default=False,
        ),
    ] = None,
    message: Annotated[
        str, typer.Option("--message", "-m", help="The user message of the default body.")
    ] = TEST_MESSAGE,
    stream: Annotated[
        bool, typer.Option("--stream", help="Run invokeStream and print tokens as they come.")
    ] = False,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Execute the connector once and show status, duration, tokens and the answer."""
    given = _given_body(body)
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        view = _get(remote, connector_id)
        connector_id = str(view["id"])
        default_model = (view.get("config") or {}).get("defaultModel")
        chat = given if given is not None else seed_body(message, default_model)
        if stream:
            summary = run_stream(remote, connector_id, chat, as_json=as_json)
        else:
            summary = run_test(remote, connector_id, chat, view)
    if as_json:
        print_json(summary)
    elif not stream:
        print_summary(summary)
    if summary["status"] != "ok":
        raise fail_plain(summary["error"], EXIT_REMOTE)
