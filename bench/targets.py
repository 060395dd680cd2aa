"""The systems under test and the requests each one is sent.

Every target is asked the same chat completion (same messages, same mock behind it):

- ``direct``: the mock itself;
- ``floor``: the minimal Python pass-through (bench/floor_proxy.py);
- ``relay_execute``: llmrelay's Kibana ``_execute`` (``run`` / ``stream`` sub-actions);
- ``relay_v1``: llmrelay's OpenAI-compatible ``/v1/chat/completions``;
- ``litellm``: LiteLLM proxy (one worker, no database, default logging);
- ``base_execute``, ``base_v1``: the same two doors of an earlier commit (``--baseline``);
- ``relay_route_v1``, ``relay_route_execute``: the two doors through a route connector
  with one healthy target, the connector the plain doors call (bench/route.py).

llmrelay callers authenticate with an llmrelay API key (roles ``connectors_read``); its
connectors are stored ones (OpenAI provider, encrypted secrets), created through the HTTP
API before the measured server starts (bench/homes.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from bench import homes
from bench.baseline import Code
from bench.homes import RelayHome
from bench.load import Request
from bench.procs import Proc, free_port

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
LITELLM_KEY = "sk-litellm-bench"
FLOOR_KEY = "floor-key"
#: ``--durability``: this checkout's default durability in every scenario (the baseline
#: keeps its own: an older commit may not know the setting), to tell the journal's cost
#: apart from the rest in a run against a baseline
CHECKOUT_DURABILITY: str | None = None

MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the benchmark."},
]
#: mock paths (a connector's apiUrl picks the behaviour): plain, paced stream, slow stream
GAP_MS, GAP_EVENTS = 5, 10
ROUTES = {
    "fast": "/v1/chat/completions",
    "gap": f"/gap/{GAP_MS}/{GAP_EVENTS}/v1/chat/completions",
    "slow": "/slow/v1/chat/completions",
}


def upstream_body(stream: bool) -> dict[str, object]:
    body: dict[str, object] = {"model": "bench-model", "messages": MESSAGES}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def connectors(mock_port: int) -> dict[str, dict[str, object]]:
    """The stored connectors every relay home holds, by id, as ``POST`` bodies."""
    return {
        name: {
            "name": f"mock {name}",
            "connector_type_id": ".gen-ai",
            "config": {
                "apiProvider": "OpenAI",
                "apiUrl": f"http://127.0.0.1:{mock_port}{path}",
                "defaultModel": "bench-model",
            },
            "secrets": {"apiKey": "sk-upstream-bench"},
        }
        for name, path in ROUTES.items()
    }


def route_id(kind: str) -> str:
    return f"route-{kind}"


def routes() -> dict[str, dict[str, object]]:
    """Route connectors (issue 19), each with one healthy target: ``route-fast`` in front
    of ``fast``. Only this checkout's homes have them (an earlier commit may not know the
    type)."""
    return {
        route_id("fast"): {
            "name": "mock route",
            "connector_type_id": ".llmrelay-route",
            "config": {"targets": [{"connectorId": "fast", "weight": 1}]},
        }
    }


def prepare_relay_home(code: Code, home: Path, mock_port: int, logs: Path) -> RelayHome:
    """A home for ``code``'s server, made by that code (bench/homes.py)."""
    draft = RelayHome(home, "", code)
    serve = relay_proc(draft, logs, name=f"{code.label}-prepare")
    bodies = connectors(mock_port)
    if code.label == "relay":
        bodies.update(routes())
    return homes.prepare(code, home, bodies, serve)


def python() -> str:
    return sys.executable


def mock_proc(logs: Path) -> Proc:
    port = free_port()
    cmd = [python(), "-m", "bench.mock_upstream", "--port", str(port)]
    return Proc("mock", cmd, port, cwd=ROOT, log=logs / "mock.log")


def floor_proc(mock_port: int, logs: Path) -> Proc:
    port = free_port()
    cmd = [
        python(),
        "-m",
        "bench.floor_proxy",
        "--port",
        str(port),
        "--upstream",
        f"http://127.0.0.1:{mock_port}",
    ]
    return Proc("floor", cmd, port, cwd=ROOT, log=logs / "floor.log")


def relay_proc(
    home: RelayHome,
    logs: Path,
    *,
    event_log: bool = True,
    name: str = "relay",
    durability: str | None = None,
) -> Proc:
    """llmrelay serving ``home``; ``durability`` sets ``llmrelay.eventLog.durability``
    (None: the default, ``answer``)."""
    port = free_port()
    cmd = [
        python(),
        "-m",
        "bench.relay_launcher",
        "--event-log",
        "on" if event_log else "off",
        "--expect-source",
        str(home.code.package_dir()),
        "--",
        "--port",
        str(port),
    ]
    env = home.env()
    if durability is None and home.code.label == "relay":
        durability = CHECKOUT_DURABILITY
    if durability is not None:
        env["LLMRELAY__llmrelay__eventLog__durability"] = durability
    return Proc(name, cmd, port, env=env, cwd=ROOT, log=logs / f"{name}.log")


def litellm_config(mock_port: int, path: Path) -> Path:
    """Same mock, same three behaviours, as LiteLLM models named like the connectors."""
    lines = ["model_list:"]
    for name, route in ROUTES.items():
        base = route.removesuffix("/chat/completions")
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            "      model: openai/bench-model",
            f"      api_base: http://127.0.0.1:{mock_port}{base}",
            "      api_key: sk-upstream-bench",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def litellm_available() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").exists()


def litellm_proc(mock_port: int, workdir: Path, logs: Path) -> Proc:
    port = free_port()
    config = litellm_config(mock_port, workdir / "litellm.yaml")
    cmd = [
        str(LITELLM_VENV / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    env = {
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PATH": f"{LITELLM_VENV / 'bin'}:{os.environ.get('PATH', '')}",
    }
    return Proc("litellm", cmd, port, env=env, cwd=workdir, log=logs / "litellm.log")


def request_for(target: str, port: int, kind: str, key: str = "") -> Request:
    """``kind``: ``fast`` (plain), ``gap`` (paced stream) or ``slow`` (slow stream)."""
    if target.startswith("base_"):  # an earlier llmrelay: the same doors, the same requests
        target = "relay_" + target.removeprefix("base_")
    connector = kind
    if target.startswith("relay_route_"):  # the route in front of connector ``kind``
        target, connector = "relay_" + target.removeprefix("relay_route_"), route_id(kind)
    stream = kind != "fast"
    body = upstream_body(stream)
    if target in ("direct", "floor"):
        headers = {"Authorization": f"Bearer {FLOOR_KEY}"} if target == "floor" else {}
        ok = "[DONE]" if stream else "chat.completion"
        return Request(port, ROUTES[kind], orjson.dumps(body), headers, ok)
    if target == "relay_v1":
        body["model"] = connector
        ok = "[DONE]" if stream else "chat.completion"
        return Request(
            port, "/v1/chat/completions", orjson.dumps(body), {"Authorization": f"Bearer {key}"}, ok
        )
    if target == "litellm":
        body["model"] = kind
        ok = "[DONE]" if stream else "chat.completion"
        return Request(
            port,
            "/v1/chat/completions",
            orjson.dumps(body),
            {"Authorization": f"Bearer {LITELLM_KEY}"},
            ok,
        )
    if target == "relay_execute":
        params: dict[str, object] = {"body": orjson.dumps(body).decode()}
        if stream:
            params["stream"] = True
        envelope = {
            "params": {"subAction": "stream" if stream else "run", "subActionParams": params}
        }
        ok = "[DONE]" if stream else '"status":"ok"'
        return Request(
            port,
            f"/api/actions/connector/{connector}/_execute",
            orjson.dumps(envelope),
            {"Authorization": f"ApiKey {key}", "kbn-xsrf": "bench"},
            ok,
        )
    raise ValueError(target)
