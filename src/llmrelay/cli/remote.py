"""Talking to a running llmrelay over its HTTP API: connection options, one client wrapper,
and the translation of every failure into one line with an exit code.

httpx (sync) is the client here: a CLI makes one call at a time, so the async aiohttp stack
of the hot path buys nothing, and httpx is small and already used by the test tooling.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from llmrelay.cli import answers
from llmrelay.cli.common import err_console
from llmrelay.domain.responses import reason_phrase
from llmrelay.errors import RemoteError

Shape = type[dict[str, Any]] | type[list[Any]] | None
EXIT_REMOTE = RemoteError.EXIT_CODE
EXIT_USAGE = 2
DEFAULT_SPACE = "default"
DEFAULT_TIMEOUT = 300.0

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--relay-url",
        envvar="LLMRELAY_URL",
        metavar="URL",
        help="Base URL of the running llmrelay, e.g. http://127.0.0.1:5601.",
        show_default=False,
    ),
]
RelayKeyOption = Annotated[
    str | None,
    typer.Option(
        "--relay-key",
        envvar="LLMRELAY_API_KEY",
        metavar="KEY",
        help="llmrelay API key (the encoded value `llmrelay api-keys create` prints); "
        "prefer the environment variable so it stays out of shell history.",
        show_default=False,
    ),
]
SpaceOption = Annotated[
    str,
    typer.Option(
        "--space", "-s", envvar="LLMRELAY_SPACE", metavar="SPACE", help="Kibana-style space."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")
]


def mask(secret: str | None) -> str:
    """How a secret may appear in output: never more than its last four characters."""
    if not secret:
        return "(none)"
    if len(secret) < 16:
        return "****"
    return "****" + secret[-4:]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom to call: validated URL, API key and space."""

    url: str
    api_key: str = field(repr=False)
    space: str = DEFAULT_SPACE

    @classmethod
    def from_options(cls, url: str | None, api_key: str | None, space: str) -> Target:
        if not url:
            raise RemoteError(
                "no llmrelay URL: set LLMRELAY_URL or pass --relay-url (e.g. http://127.0.0.1:5601)",
                EXIT_USAGE,
            )
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RemoteError(
                f"the llmrelay URL must be http:// or https:// with a host, got {url!r}",
                EXIT_USAGE,
            )
        key = (api_key or "").strip()
        if key[:7].lower() == "apikey ":  # the whole header value pasted
            key = key[7:].strip()
        if not key:
            raise RemoteError(
                "no llmrelay API key: set LLMRELAY_API_KEY or pass --relay-key "
                "(create one with `llmrelay api-keys create`)",
                EXIT_USAGE,
            )
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise RemoteError(
                "the llmrelay API key holds spaces or characters a header cannot carry; "
                "use the value `llmrelay api-keys create` printed",
                EXIT_USAGE,
            )
        space = space.strip()
        if not space:
            raise RemoteError("--space must not be empty", EXIT_USAGE)
        return cls(url.strip().rstrip("/"), key, space)

    @property
    def api_base(self) -> str:
        if self.space == DEFAULT_SPACE:
            return f"{self.url}/api"
        return f"{self.url}/s/{quote(self.space, safe='')}/api"


def path_id(value: str) -> str:
    """A connector id as one path segment."""
    return quote(value, safe="")


class Remote:
    """The llmrelay HTTP API with errors turned into :class:`RemoteError`."""

    def __init__(self, target: Target, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self._client = httpx.Client(
            base_url=target.api_base,
            headers={
                "Authorization": f"ApiKey {target.api_key}",
                "kbn-xsrf": "llmrelay-cli",
                "User-Agent": "llmrelay-cli",
            },
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self, path: str, params: Mapping[str, str] | None = None, *, expect: Shape = None
    ) -> Any:
        return self._call("GET", path, params=params, expect=expect)

    def post(self, path: str, body: object, *, expect: Shape = None) -> Any:
        return self._call("POST", path, body=body, expect=expect)

    def put(self, path: str, body: object, *, expect: Shape = None) -> Any:
        return self._call("PUT", path, body=body, expect=expect)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        expect: Shape = None,
    ) -> Any:
        """The parsed JSON answer; ``expect`` is the JSON type llmrelay answers this with."""
        with self._translated():
            response = self._client.request(
                method, path, params=params, json=body if method in ("POST", "PUT") else None
            )
            if response.status_code == 204 or (response.status_code < 400 and not response.content):
                return None
            data = self._json_of(response)
        raise_for_status(response)
        if expect is not None and not isinstance(data, expect):
            raise self._foreign(response)
        return data

    @contextmanager
    def stream(self, path: str, body: object) -> Iterator[httpx.Response]:
        """POST and hand over the open response (status and content type already checked:
        an event stream, or the JSON envelope of a failed execution)."""
        with self._translated(), self._client.stream("POST", path, json=body) as response:
            if response.status_code >= 400 or answers.media_type(response) != answers.SSE:
                response.read()
                self._json_of(response)
                raise_for_status(response)
            yield response

    def _json_of(self, response: httpx.Response) -> Any:
        """The body of an answer that is llmrelay's, else :meth:`_foreign`'s error."""
        if not answers.is_json(response):
            raise self._foreign(response)
        try:
            data = response.json()
        except ValueError:
            raise self._foreign(response) from None
        if response.status_code >= 400 and not answers.kibana_error(data):
            raise self._foreign(response)
        return data

    def _foreign(self, response: httpx.Response) -> RemoteError:
        """An answer llmrelay's API never gives: say who answered, in one line."""
        seen = f"{answers.request_line(response)} answered {answers.describe(response)}"
        if self._is_llmrelay():
            return RemoteError(
                f"{self.target.url}: llmrelay, but {seen}, which its API never answers "
                "(an older llmrelay, or a proxy in between?)"
            )
        return RemoteError(f"{self.target.url}: not an llmrelay server ({seen})")

    def _is_llmrelay(self) -> bool:
        try:
            status = self._client.get(f"{self.target.url}/api/status")
        except httpx.HTTPError:
            return False
        return answers.is_llmrelay_status(status)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        url = self.target.url
        try:
            yield
        except httpx.ConnectError as err:
            raise RemoteError(f"cannot reach llmrelay at {url}: {_connect_reason(err)}") from None
        except httpx.TimeoutException:
            raise RemoteError(f"llmrelay at {url} did not answer in time") from None
        except httpx.RemoteProtocolError as err:
            raise RemoteError(f"llmrelay at {url} broke the connection: {err}") from None
        except httpx.TransportError as err:
            raise RemoteError(f"cannot talk to llmrelay at {url}: {err}") from None


def _connect_reason(err: httpx.ConnectError) -> str:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(err)
    if "refused" in text.lower():
        return "connection refused"
    return text or type(err).__name__


def raise_for_status(response: httpx.Response) -> None:
    """Kibana-shaped error bodies (``{"statusCode", "error", "message"}``) to one line."""
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise RemoteError("the API key was rejected (401)", status=status)
    message = _server_message(response)
    if status == 403:
        raise RemoteError(message or "forbidden (403)", status=status)
    phrase = reason_phrase(status)
    if message:
        raise RemoteError(f"{message} ({status})", status=status)
    raise RemoteError(f"llmrelay answered {status} {phrase}", status=status)


def _server_message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


def fail_plain(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Like ``common.fail`` but for plain text (server messages contain ``[field]``, which
    is markup to rich) and never wrapped, so an error stays one line."""
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(message, markup=False, soft_wrap=True)
    return typer.Exit(code=code)


def confirm_delete(question: str) -> None:
    """Ask before deleting; return only on yes (no answer or no: exit, nothing deleted)."""
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        err_console.print()  # end the prompt's line
        raise fail_plain("not deleted: confirm at the prompt or pass --yes") from None
    if not confirmed:
        raise fail_plain("not deleted (pass --yes to skip the question)", EXIT_REMOTE)


def out() -> Console:
    """Console for tables: the terminal's width, or wide enough to keep ids whole when
    the output is piped or captured."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def cell(value: object) -> str:
    """Server text for a table cell: shown as is, never read as rich markup."""
    return "" if value is None else escape(str(value))


def print_json(value: object) -> None:
    """The ``--json`` output: one document on stdout."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def open_remote(url: str | None, api_key: str | None, space: str) -> Remote:
    """The client for a command's connection options, or a usage error."""
    try:
        return Remote(Target.from_options(url, api_key, space))
    except RemoteError as err:
        raise fail_plain(err.message, err.exit_code) from None


@contextmanager
def reported() -> Iterator[None]:
    """Turn a :class:`RemoteError` escaping the block into one line and its exit code."""
    try:
        yield
    except RemoteError as err:
        raise fail_plain(err.message, err.exit_code) from None
