"""One execution of a connector over the actions API, for ``llmrelay connectors test``:
the seed body, the ``test`` call, the ``invokeStream`` reader and the summary."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import typer
from rich.status import Status
from rich.table import Table

from llmrelay.cli.common import err_console
from llmrelay.cli.remote import Remote, cell, out, path_id
from llmrelay.errors import RemoteError


def seed_body(message: str, default_model: object) -> dict[str, Any]:
    """The body Kibana's connector form tests with: the default model and one message."""
    seed: dict[str, Any] = {"messages": [{"role": "user", "content": message}]}
    if isinstance(default_model, str) and default_model:
        seed = {"model": default_model, **seed}
    return seed


def _execute_path(connector_id: str) -> str:
    return f"/actions/connector/{path_id(connector_id)}/_execute"


def _usage_text(usage: object) -> str:
    if not isinstance(usage, dict) or not usage:
        return "not reported"
    return (
        f"{usage.get('prompt_tokens', '?')} prompt + {usage.get('completion_tokens', '?')} "
        f"completion = {usage.get('total_tokens', '?')}"
    )


def _answer_of(data: object) -> str | None:
    try:
        content = data["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _error_line(envelope: Mapping[str, Any]) -> str:
    message = str(envelope.get("message") or "the execution failed")
    detail = envelope.get("service_message")
    return f"{message}: {detail}" if detail else message


def run_test(
    remote: Remote, connector_id: str, chat: dict[str, Any], view: Mapping[str, Any]
) -> dict[str, Any]:
    params = {"subAction": "test", "subActionParams": {"body": json.dumps(chat)}}
    started = time.perf_counter()
    with err_console.status(f"testing {cell(view.get('name'))} ...", spinner="dots"):
        envelope = remote.post(_execute_path(connector_id), {"params": params}, expect=dict)
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    if not isinstance(envelope, dict):
        raise RemoteError("llmrelay answered _execute with something other than an object")
    data = envelope.get("data")
    ok = envelope.get("status") == "ok"
    summary: dict[str, Any] = {
        "connector_id": connector_id,
        "sub_action": "test",
        "status": "ok" if ok else "error",
        "duration_ms": duration_ms,
        "model": data.get("model") if isinstance(data, dict) else chat.get("model"),
        "usage": data.get("usage") if isinstance(data, dict) else None,
        "answer": _answer_of(data),
        "response": envelope,
    }
    if not ok:
        summary["error"] = _error_line(envelope)
    return summary


def print_summary(summary: Mapping[str, Any]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("status", str(summary["status"]))
    table.add_row("duration", f"{summary['duration_ms']} ms")
    if summary.get("model"):
        table.add_row("model", cell(summary["model"]))
    if summary["status"] == "ok":
        table.add_row("tokens", _usage_text(summary.get("usage")))
        table.add_row("answer", cell(summary.get("answer") or "(no text)"))
    out().print(table)


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` of each Server-Sent Event (multi-line data joined, comments skipped)."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def run_stream(
    remote: Remote, connector_id: str, chat: dict[str, Any], *, as_json: bool
) -> dict[str, Any]:
    params = {k: v for k, v in chat.items() if k not in ("stream", "stream_options")}
    request = {"params": {"subAction": "invokeStream", "subActionParams": params}}
    summary: dict[str, Any] = {
        "connector_id": connector_id,
        "sub_action": "invokeStream",
        "status": "ok",
        "model": chat.get("model"),
        "usage": None,
    }
    pieces: list[str] = []
    finished = False
    started = time.perf_counter()
    status = err_console.status("waiting for the first token ...", spinner="dots")
    status.start()
    try:
        with remote.stream(_execute_path(connector_id), request) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                envelope = json.loads(response.read() or b"{}")
                summary.update(status="error", error=_error_line(envelope), response=envelope)
            else:
                try:
                    finished = _consume(response, summary, pieces, status, echo=not as_json)
                except httpx.TransportError as err:
                    reason = str(err) or type(err).__name__
                    summary.update(status="error", error=f"the stream broke off: {reason}")
    except ValueError:
        raise RemoteError("llmrelay answered the stream with something unreadable") from None
    finally:
        status.stop()
    summary["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    summary["answer"] = "".join(pieces)
    if summary["status"] == "ok" and not finished:
        summary.update(status="error", error="the stream ended before it was complete")
    if not as_json:
        if pieces:
            typer.echo("")
        line = f"status {summary['status']}, {summary['duration_ms']} ms"
        if summary["status"] == "ok":
            usage = summary["usage"]
            line += ", tokens " + (
                _usage_text(usage) if usage else "not reported in the stream (see llmrelay events)"
            )
        err_console.print(line, markup=False, soft_wrap=True)
    return summary


def _consume(
    response: httpx.Response,
    summary: dict[str, Any],
    pieces: list[str],
    status: Status,
    *,
    echo: bool,
) -> bool:
    """Print deltas as they arrive; True when the stream ended properly."""
    finished = False
    for data in _sse_data(response.iter_lines()):
        if data == "[DONE]":
            return True
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            error = chunk["error"]
            text = error.get("message") if isinstance(error, dict) else error
            summary.update(status="error", error=f"the stream broke off: {text}")
            return True
        if chunk.get("model"):
            summary["model"] = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            summary["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                finished = True
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                if not pieces:
                    status.stop()
                pieces.append(content)
                if echo:
                    typer.echo(content, nl=False)
    return finished
