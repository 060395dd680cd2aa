"""``pip install .`` with no extras, into a fresh venv, is a working llmrelay.

The package is built and installed (not editable) from the Makefile's wheelhouse, offline,
so only what pyproject.toml declares as base dependencies is there: a module that imports
an undeclared library, or an optional one at module level (asyncpg), fails here. No module
needs an extra to be imported; the ``postgres`` extra is needed only once a
``postgresql://`` store is configured, and then the error names it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import free_port
from tests.helpers.install import ROOT, offline_env, run, stop_group, wait_answering, wheelhouse

pytestmark = [pytest.mark.network, pytest.mark.timeout(300)]

SRC = ROOT / "src" / "llmrelay"
ADMIN_PASSWORD = "plain-install-admin-password"
POSTGRES_EXTRA = "pip install 'llmrelay[postgres]'"

# Run inside the plain venv: import every module of the installed package.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import llmrelay
failed = {}
def note(name):
    failed[name] = repr(sys.exc_info()[1])
names = ["llmrelay"] + [
    m.name for m in pkgutil.walk_packages(llmrelay.__path__, "llmrelay.", onerror=note)
    if m.name.rpartition(".")[2] != "__main__"  # runs the CLI: exercised by -m below
]
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as err:
        failed[name] = f"{type(err).__name__}: {err}"
print(json.dumps({"modules": names, "failed": failed, "file": llmrelay.__file__}))
"""

# Run inside the plain venv: `--help` of every command and subcommand of the CLI.
HELP_ALL = """
import json, click, typer
from click.testing import CliRunner
from llmrelay.cli.main import app
def paths(cmd, prefix):
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from paths(sub, [*prefix, name])
root = typer.main.get_command(app)
out = {}
for path in paths(root, []):
    result = CliRunner().invoke(root, [*path, "--help"], prog_name="llmrelay")
    out[" ".join(path)] = [result.exit_code, result.output]
print(json.dumps(out))
"""


@dataclass
class PlainVenv:
    path: Path
    env: dict[str, str]
    work: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def llmrelay(self) -> str:
        return str(self.path / "bin" / "llmrelay")

    def python_json(self, code: str) -> Any:
        """What ``code``, run by the plain venv's python, prints as JSON."""
        return json.loads(run([self.python, "-c", code], self.env, self.work))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> PlainVenv:
    wheels = wheelhouse()
    work = tmp_path_factory.mktemp("plain-install")
    venv = work / "venv"
    env = offline_env(wheels)
    run([sys.executable, "-m", "venv", str(venv)], env, work)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)], env, work)
    return PlainVenv(venv, env, work)


def source_modules() -> set[str]:
    """Every module of the source tree by dotted name (``__main__`` aside)."""
    names = set()
    for path in SRC.rglob("*.py"):
        parts = ("llmrelay", *path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            names.add(".".join(parts))
    return names


def test_installed_as_a_package_without_extras(plain: PlainVenv) -> None:
    out = plain.python_json(
        "import importlib.util, json, llmrelay; print(json.dumps({'file': llmrelay.__file__, "
        "'asyncpg': importlib.util.find_spec('asyncpg') is not None}))"
    )
    assert Path(str(out["file"])).is_relative_to(plain.path), out  # not the source tree
    assert out["asyncpg"] is False  # the postgres extra is really absent


def test_every_module_imports(plain: PlainVenv) -> None:
    out = plain.python_json(IMPORT_ALL)
    assert out["failed"] == {}
    assert set(out["modules"]) == source_modules()


def test_cli_and_every_subcommand_help(plain: PlainVenv) -> None:
    top = run([plain.llmrelay, "--help"], plain.env, plain.work)
    assert "serve" in top and "connectors" in top
    assert "Usage" in run([plain.python, "-m", "llmrelay.cli", "--help"], plain.env, plain.work)
    helps = plain.python_json(HELP_ALL)
    assert {"serve", "users create", "api-keys", "connectors list", "local-llm"} <= set(helps)
    broken = {path: r for path, r in helps.items() if r[0] != 0 or "Usage" not in r[1]}
    assert broken == {}


@pytest.fixture
def served(plain: PlainVenv, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**plain.env, "LLMRELAY_HOME": str(tmp_path / "home")}
    env["LLMRELAY_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [plain.llmrelay, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_answering(url + "/api/status", proc, log, timeout=90)
        yield url
    finally:
        stop_group(proc)


def test_serve_on_sqlite_answers_the_api(served: str) -> None:
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "kbn-xsrf": "true"}
    with httpx.Client(base_url=served, headers=headers, timeout=30, trust_env=False) as client:
        created = client.post(  # encrypts the secret: the crypto dependency is there
            "/api/actions/connector/plain",
            json={
                "name": "plain",
                "connector_type_id": ".gen-ai",
                "config": {"apiProvider": "OpenAI", "apiUrl": "https://api.openai.com/v1"},
                "secrets": {"apiKey": "sk-plain"},
            },
        )
        assert created.status_code == 200, created.text
        listed = client.get("/api/actions/connectors")
        assert listed.status_code == 200, listed.text
        assert [c["id"] for c in listed.json()] == ["plain"]
        page = client.get("/login")  # templates and static files are in the wheel
        assert page.status_code == 200 and "<form" in page.text
        assert client.get("/ui/static/app.css").status_code == 200
        chart = client.get("/ui/static/vendor/chart.umd.min.js")  # the vendored chart library
        assert chart.status_code == 200 and "Chart.js v4" in chart.text


@pytest.mark.parametrize("command", [["serve"], ["users", "list"]], ids=" ".join)
def test_postgres_without_the_extra_names_it(
    plain: PlainVenv, tmp_path: Path, command: list[str]
) -> None:
    env = {
        **plain.env,
        "LLMRELAY_HOME": str(tmp_path / "home"),
        "LLMRELAY_DATABASE_URL": "postgresql://relay:pg-secret-pw@127.0.0.1:1/relay",
    }
    result = subprocess.run(
        [plain.llmrelay, *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and POSTGRES_EXTRA in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "pg-secret-pw" not in result.stderr
