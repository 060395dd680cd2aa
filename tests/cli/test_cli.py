"""The ``llmrelay`` command: serve (first start), accounts on the data dir, execute."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from llmrelay.cli.main import app
from llmrelay.testing import FakeUpstream

runner = CliRunner()


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"LLMRELAY_HOME": str(home), "LLMRELAY_ENCRYPTION_KEY": "e" * 40, **extra}


def test_users_and_api_keys_on_the_data_dir(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = runner.invoke(
        app,
        [
            "users",
            "create",
            "alice",
            "--password",
            "pw-alice-1",
            "--roles",
            "connectors_read,usage_read",
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["users", "list", "--json"], env=env)
    assert json.loads(listed.stdout)[0]["name"] == "alice"
    dup = runner.invoke(app, ["users", "create", "alice", "--password", "x"], env=env)
    assert dup.exit_code == 2 and "alice" in dup.output and "Traceback" not in dup.output
    bad_role = runner.invoke(
        app, ["users", "create", "bob", "--password", "x", "--roles", "root"], env=env
    )
    assert bad_role.exit_code == 2 and "root" in bad_role.output
    key = runner.invoke(
        app, ["api-keys", "create", "--name", "ci", "--roles", "connectors_read"], env=env
    )
    assert key.exit_code == 0, key.output
    encoded = key.stdout.strip().splitlines()[-1]
    keys = json.loads(runner.invoke(app, ["api-keys", "list", "--json"], env=env).stdout)
    assert keys[0]["name"] == "ci" and encoded not in json.dumps(keys)
    deleted = runner.invoke(app, ["api-keys", "delete", keys[0]["id"]], env=env)
    assert deleted.exit_code == 0
    assert json.loads(runner.invoke(app, ["api-keys", "list", "--json"], env=env).stdout) == []
    gone = runner.invoke(app, ["users", "delete", "alice"], env=env)
    assert gone.exit_code == 0


def test_execute_a_connector_file(tmp_path: Path, upstream: FakeUpstream) -> None:
    connector = tmp_path / "local.json"
    connector.write_text(
        json.dumps(
            {
                "name": "Local",
                "connector_type_id": ".gen-ai",
                "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
                "secrets": {"apiKey": "placeholder"},
            }
        )
    )
    params = json.dumps(
        {"body": json.dumps({"messages": [{"role": "user", "content": "hi there"}]})}
    )
    result = runner.invoke(app, ["execute", "-c", str(connector), "-a", "run", "-p", params])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["data"]["choices"][0]["message"]["content"]
        == "You said: hi there"
    )
    assert "usage_source=response" in result.output
    connector.write_text(json.dumps({"name": "x", "connector_type_id": ".gen-ai", "config": {}}))
    invalid = runner.invoke(app, ["execute", "-c", str(connector)])
    assert invalid.exit_code == 2
    assert "error validating connector type config" in invalid.output
    assert "Traceback" not in invalid.output


def test_bad_setting_stops_start_up_with_a_named_message(tmp_path: Path) -> None:
    config = tmp_path / "llmrelay.yml"
    config.write_text("xpack.actions.responseTimeout: 60 parsecs\n")
    result = runner.invoke(app, ["serve", "--config", str(config)], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "xpack.actions.responseTimeout" in result.output
    assert "Traceback" not in result.output


def test_serve_first_start_prints_admin_once_and_answers(tmp_path: Path) -> None:
    port = random.randint(20000, 32000)
    env = {**os.environ, "LLMRELAY_HOME": str(tmp_path / "home")}
    env.pop("LLMRELAY_ENCRYPTION_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrelay.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"server did not start: {proc.stderr.read() if proc.stderr else ''}"
                    )
                time.sleep(0.1)
        home = tmp_path / "home"
        password = (home / "admin-password").read_text().strip()
        assert (home / "admin-password").stat().st_mode & 0o777 == 0o600
        assert (home / "encryption.key").stat().st_mode & 0o777 == 0o600
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/actions/connectors", auth=("admin", password)
        )
        assert listed.status_code == 200 and listed.json() == []
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    assert "llmrelay first start" in stderr
    assert password in stderr
    assert stderr.count(password) == 1
