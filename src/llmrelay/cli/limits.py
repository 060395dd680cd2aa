"""``llmrelay limits ...``: the limits API of a running llmrelay (admins), from a shell."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from llmrelay.cli.common import err_console
from llmrelay.cli.json_input import read_json_file
from llmrelay.cli.remote import (
    JsonOption,
    RelayKeyOption,
    Remote,
    SpaceOption,
    UrlOption,
    cell,
    confirm_delete,
    fail_plain,
    open_remote,
    out,
    path_id,
    print_json,
    reported,
)
from llmrelay.domain.limits import FIGURES, SCOPE_KINDS

limits_app = typer.Typer(
    help="List, create, change and delete limits (requests, tokens, USD) on a running "
    "llmrelay; admin only.",
    no_args_is_help=True,
)

LimitId = Annotated[str, typer.Argument(help="The limit id.", show_default=False)]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="JSON body as the limits API takes it; flags override its values.",
        show_default=False,
    ),
]
NameOption = Annotated[str | None, typer.Option("--name", help="The limit's name.")]
ScopeOption = Annotated[
    str | None,
    typer.Option(
        "--scope",
        help="Who the limit covers: connector=<id>, user=<name>, api_key=<id> "
        "(as 'llmrelay api-keys list' shows it) or space=<id>.",
        show_default=False,
    ),
]
Figures = dict[str, object]
_SUFFIX = {"minute": "this_minute", "day": "today", "month": "this_month"}
_COUNTED = {"requests": "requests", "tokens": "tokens", "cost_usd": "US dollars of cost"}
_WINDOW = {"minute": "minute", "day": "day (UTC)", "month": "calendar month (UTC)"}


# --- the figure options ---------------------------------------------------------------------
def _figure_option(field: str, metric: str, window: str) -> inspect.Parameter:
    """``--<field>``: a whole number of requests or tokens, or an amount of USD."""
    kind: type = float if metric == "cost_usd" else int
    option = typer.Option(
        min=0.0 if kind is float else 1,
        help=f"The most {_COUNTED[metric]} per {_WINDOW[window]}.",
        show_default=False,
    )
    annotation = Annotated[kind | None, option]  # type: ignore[valid-type]  # built per figure
    return inspect.Parameter(
        field, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
    )


def with_figure_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per limit figure (``FIGURES``), declared here once for ``create`` and
    ``update``: typer finds them in the command's signature after ``--scope``, and the
    command receives them together as its keyword ``figures``."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "figures"]
    after_scope = [p.name for p in params].index("scope") + 1
    params[after_scope:after_scope] = [_figure_option(*figure) for figure in FIGURES]

    @functools.wraps(command)
    def run(**options: Any) -> None:
        figures = {field: options.pop(field) for field, _, _ in FIGURES}
        command(**options, figures=figures)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]  # read by typer
    return run


# --- bodies ---------------------------------------------------------------------------------
def _scope(value: str) -> dict[str, str]:
    kind, sep, target = value.partition("=")
    if not sep or kind not in SCOPE_KINDS or not target.strip():
        kinds = ", ".join(f"{k}=<...>" for k in SCOPE_KINDS)
        raise fail_plain(f"--scope: expected one of {kinds}")
    return {kind: target}


def _file_body(file: Path | None) -> dict[str, Any]:
    if file is None:
        return {}
    body = read_json_file(file, "--file")
    if not isinstance(body, dict):
        raise fail_plain("--file must hold a JSON object (a limit)")
    return body


def _body(
    base: Mapping[str, Any], name: str | None, scope: str | None, figures: Mapping[str, object]
) -> dict[str, Any]:
    body = {key: value for key, value in base.items() if key not in ("id", "current")}
    if name is not None:
        body["name"] = name
    if scope is not None:
        body["scope"] = _scope(scope)
    body.update({field: value for field, value in figures.items() if value is not None})
    return body


# --- printing -------------------------------------------------------------------------------
def _scope_text(scope: object) -> str:
    if isinstance(scope, Mapping) and len(scope) == 1:
        ((kind, target),) = scope.items()
        return f"{kind}={target}"
    return cell(scope)


def _use_lines(view: Mapping[str, Any]) -> str:
    """``requests_per_minute: 12 / 60`` per figure the limit has."""
    current = view.get("current") or {}
    lines = []
    for field, metric, window in FIGURES:
        figure = view.get(field)
        if figure is None:
            continue
        used = current.get(f"{metric}_{_SUFFIX[window]}", 0)
        lines.append(f"{field}: {used:g} / {figure:g}")
    return "\n".join(lines)


def _print_limits(views: list[Mapping[str, Any]]) -> None:
    table = Table("id", "name", "scope", "use / limit")
    for view in views:
        table.add_row(
            cell(view.get("id")),
            cell(view.get("name")),
            _scope_text(view.get("scope")),
            _use_lines(view),
        )
    out().print(table)


def _get(remote: Remote, limit_id: str) -> dict[str, Any]:
    view: dict[str, Any] = remote.get(f"/llmrelay/limits/{path_id(limit_id)}", expect=dict)
    return view


# --- commands -------------------------------------------------------------------------------
@limits_app.command("list")
def list_limits(
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """List the limits of a space with their current use."""
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        answer = remote.get("/llmrelay/limits", expect=dict)
    views = answer.get("data") or []
    if as_json:
        print_json(views)
        return
    if not views:
        err_console.print(f"no limits in space {space}", markup=False)
        return
    _print_limits(views)


@limits_app.command("create")
@with_figure_options
def create_limit(
    file: FileOption = None,
    name: NameOption = None,
    scope: ScopeOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
    *,
    figures: Figures,
) -> None:
    """Create a limit: a name, one --scope and at least one figure (or --file)."""
    body = _body(_file_body(file), name, scope, figures)
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        view = remote.post("/llmrelay/limits", body, expect=dict)
    _show_saved(view, "created", space, as_json)


@limits_app.command("update")
@with_figure_options
def update_limit(
    limit_id: LimitId,
    file: FileOption = None,
    name: NameOption = None,
    scope: ScopeOption = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
    *,
    figures: Figures,
) -> None:
    """Change a limit: its current definition, then --file, then flags. Counts go on
    unless the scope changes."""
    changes = _file_body(file)
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        current = _get(remote, limit_id)
        body = _body({**current, **changes}, name, scope, figures)
        view = remote.put(f"/llmrelay/limits/{path_id(limit_id)}", body, expect=dict)
    _show_saved(view, "updated", space, as_json)


def _show_saved(view: Mapping[str, Any], verb: str, space: str, as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    out().print(f"{verb} limit {view.get('id')} in space {space}", markup=False)
    _print_limits([view])


@limits_app.command("delete")
def delete_limit(
    limit_id: LimitId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Delete a limit and its counts (asks first unless --yes)."""
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        view = _get(remote, limit_id)
        if not yes:
            question = f"Delete limit {view.get('name')!r} ({limit_id}) in space {space}?"
            confirm_delete(question)
        remote.delete(f"/llmrelay/limits/{path_id(limit_id)}")
    if as_json:
        print_json({"id": limit_id, "deleted": True})
        return
    out().print(f"deleted limit {limit_id} in space {space}", markup=False)
