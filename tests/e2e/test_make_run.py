"""``make run`` from a fresh clone: the README's first command, end to end.

A ``git clone`` of this repository (its committed state) gets its own ``.venv`` from the
Makefile, the local model runtime from the cache outside the repository, and serves with
the preconfigured ``local-llm`` connector; the test executes that connector once. pip sees
only the Makefile's wheelhouse (no index), so nothing reaches the network; the ports and the
data directory are the test's own, so a developer's ``make run`` is left alone.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmrelay.cli.local_llm import CONNECTOR_ID, MODEL_ALIAS
from tests.e2e.conftest import free_port
from tests.helpers.install import ROOT, offline_env, run, stop_group, wait_answering, wheelhouse

pytestmark = [pytest.mark.e2e, pytest.mark.network, pytest.mark.timeout(900)]

ADMIN_PASSWORD = "make-run-admin-password"
START_TIMEOUT = 600  # a new venv, the runtime installed from wheels, the model loaded


@dataclass
class MakeRun:
    url: str
    llm_port: int
    home: Path


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    env = offline_env(wheelhouse())
    work = tmp_path_factory.mktemp("make-run")
    clone = work / "clone"
    run(["git", "clone", "-q", str(ROOT), str(clone)], env, work)
    port = free_port()
    llm_port = free_port()
    while llm_port == port:
        llm_port = free_port()
    home = work / "home"
    env.update({"LLMRELAY_HOME": str(home), "LLMRELAY_ADMIN_PASSWORD": ADMIN_PASSWORD})
    env["LLMRELAY_LOG_FORMAT"] = "text"
    log = work / "make-run.log"
    command = ["make", "run", f"PORT={port}", f"LOCAL_LLM_PORT={llm_port}"]
    command.append(f"PYTHON={sys.executable}")  # the interpreter the wheelhouse was built for
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one group: make, llmrelay serve, the local model
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_answering(url + "/api/status", proc, log, timeout=START_TIMEOUT)
        yield MakeRun(url, llm_port, home)
    finally:
        stop_group(proc)
    assert not listening(llm_port), "the local model outlived make run"


def test_make_run_executes_the_local_model_connector(make_run: MakeRun) -> None:
    body = (
        '{"messages": [{"role": "user", "content": "Say hello."}], '
        '"max_tokens": 8, "temperature": 0}'
    )
    with httpx.Client(
        base_url=make_run.url,
        auth=("admin", ADMIN_PASSWORD),
        headers={"kbn-xsrf": "true"},
        timeout=120,
        trust_env=False,
    ) as client:
        response = client.post(
            f"/api/actions/connector/{CONNECTOR_ID}/_execute",
            json={"params": {"subAction": "run", "subActionParams": {"body": body}}},
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "ok", result
    assert result["connector_id"] == CONNECTOR_ID
    assert result["data"]["model"] == MODEL_ALIAS
    assert result["data"]["choices"][0]["message"]["content"].strip()
    assert listening(make_run.llm_port)  # on the port the test chose
    assert (make_run.home / "llmrelay.db").exists()  # the data dir is the test's
