"""``llmrelay usage`` and ``llmrelay events``: token usage and the event log of a running
llmrelay (both need the ``usage_read`` role in the space)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from llmrelay.cli.common import err_console
from llmrelay.cli.remote import (
    JsonOption,
    RelayKeyOption,
    Remote,
    SpaceOption,
    UrlOption,
    cell,
    fail_plain,
    open_remote,
    out,
    path_id,
    print_json,
    reported,
)
from llmrelay.domain.durations import DATE_MATH_UNITS, parse_duration
from llmrelay.domain.event_documents import duration_ns
from llmrelay.errors import RemoteError

_MAX_PER_PAGE = 10_000


class GroupBy(StrEnum):
    user = "user"
    connector = "connector"
    model = "model"
    endpoint = "endpoint"
    route = "route"


class Interval(StrEnum):
    minute = "minute"
    hour = "hour"
    day = "day"


ConnectorFilter = Annotated[
    str | None,
    typer.Option("--connector", metavar="ID", help="Only this connector id.", show_default=False),
]


def time_param(value: str | None, option: str) -> str | None:
    """``24h`` / ``now-24h`` / ``now`` / an ISO-8601 time, as the API's ``start``/``end``."""
    if value is None:
        return None
    value = value.strip()
    if value == "now":
        return value
    relative = parse_duration(value.removeprefix("now-"), units=DATE_MATH_UNITS, date_math=True)
    if relative:
        return f"now-{relative.number}{relative.unit}"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail_plain(
            f"{option}: expected a duration such as 15m, 24h, 7d, 2w, or an ISO-8601 time, "
            f"got {value!r}"
        ) from None
    return value


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


# --- usage -----------------------------------------------------------------------------
_COUNTS = (
    ("executions", "executions"),
    ("failures", "failures"),
    ("prompt", "prompt_tokens"),
    ("completion", "completion_tokens"),
    ("total tokens", "total_tokens"),
    ("estimated", "estimated_tokens"),
    ("unpriced", "unpriced_tokens"),
)
_COST = "cost USD"


def usage_command(
    since: Annotated[
        str,
        typer.Option(
            "--since", metavar="WHEN", help="Start: 15m, 24h, 7d, 2w ago, or an ISO-8601 time."
        ),
    ] = "24h",
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            help="End (same forms as --since; default: now).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        GroupBy | None,
        typer.Option(
            "--by",
            help="One row per bucket and user, connector, model, endpoint or route.",
        ),
    ] = None,
    connector: ConnectorFilter = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            metavar="NAME",
            help="Only this OpenAI API: chat, embeddings, completions, responses.",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        Interval | None,
        typer.Option(
            "--interval",
            help="Bucket size (default: minute up to 2h, hour up to 3d, day beyond).",
            show_default=False,
        ),
    ] = None,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Token usage and cost over time: a table of buckets and the totals."""
    params = {"start": time_param(since, "--since") or ""}
    end = time_param(until, "--until")
    if end:
        params["end"] = end
    if by is not None:
        params["group_by"] = by.value
    if connector:
        params["connector_id"] = connector
    if endpoint:
        params["endpoint"] = endpoint
    if interval is not None:
        params["interval"] = interval.value
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        report = remote.get("/llmrelay/usage", params=params, expect=dict)
        names = _connector_names(remote) if by is GroupBy.connector and not as_json else {}
    if as_json:
        print_json(report)
        return
    _print_usage(report, by, space, names)


def _connector_names(remote: Remote) -> dict[str, str]:
    """Connector id -> name, to show beside the ids; none without ``connectors_read``."""
    try:
        views = remote.get("/actions/connectors", expect=list)
    except RemoteError:
        return {}
    return {
        str(view["id"]): str(view.get("name") or "")
        for view in views
        if isinstance(view, dict) and "id" in view
    }


def _print_usage(
    report: Mapping[str, Any], by: GroupBy | None, space: str, names: Mapping[str, str]
) -> None:
    console = out()
    scope = f" for connector {report['connector_id']}" if report.get("connector_id") else ""
    if report.get("endpoint"):
        scope += f" on endpoint {report['endpoint']}"
    console.print(
        f"usage in space {space}{scope}, {_short_time(report.get('start'))} to "
        f"{_short_time(report.get('end'))}, per {report.get('interval')}",
        markup=False,
    )
    named = by is GroupBy.connector
    keys = [by.value, *(["name"] if named else [])] if by else []
    table = Table("bucket", *keys, *(label for label, _ in _COUNTS), _COST)
    for column in table.columns[1 + len(keys) :]:
        column.justify = "right"
    for bucket in report.get("buckets") or ():
        key = [cell(bucket.get("key") or "-")] if by else []
        if named:
            key.append(cell(names.get(str(bucket.get("key"))) or "-"))
        table.add_row(
            _short_time(bucket.get("bucket")),
            *key,
            *(str(_int(bucket.get(field))) for _, field in _COUNTS),
            usd(bucket.get("cost_usd")),
        )
    totals = report.get("totals") or {}
    table.add_section()
    table.add_row(
        "total",
        *([""] * len(keys)),
        *(str(_int(totals.get(field))) for _, field in _COUNTS),
        usd(totals.get("cost_usd")),
    )
    console.print(table)
    if _int(totals.get("unpriced_tokens")):
        console.print(
            f"{_int(totals.get('unpriced_tokens'))} tokens were used by models without a price "
            "(llmrelay.prices in the settings): their cost is not in the cost column.",
            markup=False,
        )


def usd(value: object) -> str:
    """A cost in USD to the micro-dollar; ``-`` when unknown (no execution was priced)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.6f}"


def _short_time(value: object) -> str:
    """``2026-01-02T03:04:05.678Z`` -> ``2026-01-02 03:04:05Z`` (UTC, to the second)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.utcoffset()
    return text + ("Z" if offset is not None and not offset else moment.strftime("%z"))


# --- events ----------------------------------------------------------------------------
def events_command(
    connector: ConnectorFilter = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only events after: 15m, 24h, 7d, or ISO-8601.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=5000, help="Most recent executions shown.")
    ] = 20,
    relay_url: UrlOption = None,
    relay_key: RelayKeyOption = None,
    space: SpaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Recent executions from the event log, newest first (all connectors unless --connector)."""
    params = {"per_page": str(min(limit * 2, _MAX_PER_PAGE))}
    start = time_param(since, "--since")
    if start:
        params["start"] = start
    with reported(), open_remote(relay_url, relay_key, space) as remote:
        if connector:
            _assert_connector(remote, connector)
            docs = _executions(remote, connector, params)
        else:
            docs = _all_executions(remote, params)
    docs.sort(key=lambda d: str(d.get("@timestamp", "")), reverse=True)
    docs = docs[:limit]
    if as_json:
        print_json(docs)
        return
    if not docs:
        err_console.print("no executions found", markup=False)
        return
    _print_events(docs, with_connector=connector is None)


def _assert_connector(remote: Remote, connector_id: str) -> None:
    """An unknown id would only find no events: say it does not exist (the server's 404
    message, as ``connectors test`` prints it). A caller without ``connectors_read``
    cannot ask; the event log is still searched for them."""
    try:
        remote.get(f"/actions/connector/{path_id(connector_id)}", expect=dict)
    except RemoteError as err:
        if err.status != 403:
            raise


def _executions(remote: Remote, connector_id: str, params: Mapping[str, str]) -> list[Any]:
    """``execute`` documents only: ``execute-start`` carries no outcome or usage."""
    path = f"/event_log/connector/{path_id(connector_id)}/_find"
    page = remote.get(path, params=params, expect=dict)
    if not isinstance(page.get("data"), list):
        raise RemoteError("llmrelay answered the event log search with an unexpected shape")
    return [
        doc
        for doc in page["data"]
        if isinstance(doc, dict) and (doc.get("event") or {}).get("action") == "execute"
    ]


def _all_executions(remote: Remote, params: Mapping[str, str]) -> list[Any]:
    connectors = remote.get("/actions/connectors", expect=list)
    docs: list[Any] = []
    ids = [str(c.get("id")) for c in connectors if isinstance(c, dict)]
    with Progress(
        console=err_console, transient=True, disable=not err_console.is_terminal
    ) as progress:
        task = progress.add_task("reading the event log", total=len(ids))
        for connector_id in ids:
            docs.extend(_executions(remote, connector_id, params))
            progress.advance(task)
    return docs


def _tokens(doc: Mapping[str, Any]) -> str:
    execution = ((doc.get("kibana") or {}).get("action") or {}).get("execution") or {}
    usage = (execution.get("gen_ai") or {}).get("usage")
    if not isinstance(usage, dict):
        return "-"
    return (
        f"{_int(usage.get('total_tokens'))} "
        f"({_int(usage.get('prompt_tokens'))}+{_int(usage.get('completion_tokens'))})"
    )


def _duration(doc: Mapping[str, Any]) -> str:
    nanos = duration_ns(doc)
    if nanos is None:
        return "-"
    return f"{nanos / 1e6:.1f} ms"


def _print_events(docs: list[Any], *, with_connector: bool) -> None:
    headers = ["time", *(["connector"] if with_connector else [])]
    headers += ["outcome", "sub-action", "user", "model", "tokens", "usage_source", "duration"]
    table = Table(*headers)
    table.columns[-1].justify = "right"
    for doc in docs:
        extra = doc.get("llmrelay") or {}
        action = (doc.get("kibana") or {}).get("action") or {}
        outcome = str((doc.get("event") or {}).get("outcome") or "-")
        name = action.get("name") or action.get("id") or "-"
        table.add_row(
            _short_time(doc.get("@timestamp")),
            *([cell(name)] if with_connector else []),
            "[red]failure[/red]" if outcome == "failure" else cell(outcome),
            cell(extra.get("sub_action") or "-"),
            cell((doc.get("user") or {}).get("name") or "-"),
            cell(extra.get("model") or "-"),
            _tokens(doc),
            cell(extra.get("usage_source") or "-"),
            _duration(doc),
        )
    out().print(table)
