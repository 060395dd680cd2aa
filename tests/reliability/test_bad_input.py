"""Bad input (issue 7 §2): schemathesis against ``/api/openapi.json`` with no 5xx, and
oversized or deeply nested JSON refused with 413/400 on every endpoint that takes a body.

Property tests of validators, body rules and the SSE decoder live beside their units
(tests/domain/test_properties.py, tests/providers, tests/transport/test_sse.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from llmrelay.web.json import MAX_BODY_BYTES, MAX_DEPTH
from llmrelay.web.openapi import openapi_document
from tests.fixtures.service import Service
from tests.helpers.soak import scaled
from tests.reliability.conftest import XSRF

pytestmark = pytest.mark.network

EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 10, schemathesis.GenerationMode.NEGATIVE: 6}
_DOC = openapi_document("test")
OPERATIONS = [(m.upper(), p) for p, ops in _DOC["paths"].items() for m in ops]
WITH_BODY = [
    (m.upper(), p)
    for p, ops in _DOC["paths"].items()
    for m, op in ops.items()
    if "requestBody" in op
]


@pytest.fixture(scope="module")
def api_schema(fault_service: Service) -> Any:
    return schemathesis.openapi.from_url(fault_service.url + "/api/openapi.json", timeout=10)


@pytest.fixture(scope="module")
def admin_session(fault_service: Service) -> Iterator[Any]:
    import requests  # schemathesis' own transport

    with requests.Session() as session:
        yield session


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_finds_no_server_error(
    fault_service: Service,
    api_schema: Any,
    admin_session: Any,
    method: str,
    path: str,
    mode: schemathesis.GenerationMode,
) -> None:
    operation = api_schema[path][method]
    if mode is schemathesis.GenerationMode.NEGATIVE and not (
        operation.body or operation.path_parameters or operation.query or operation.headers
    ):
        pytest.skip("nothing to make invalid: no parameters and no body")
    auth = {**fault_service.admin, **XSRF}
    answers: list[int] = []

    @settings(
        max_examples=scaled(EXAMPLES[mode]),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(
            base_url=fault_service.url, headers=auth, session=admin_session, timeout=10
        )
        answers.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:300]}\n{case.as_curl_command()}"
        )

    run()
    assert answers, "schemathesis sent no request"


def _concrete(path: str) -> str:
    return path.replace("{space_id}", "bad-input").replace("{id}", "no-such-connector")


def _send(
    service: Service, method: str, path: str, content: bytes, **headers: str
) -> httpx.Response:
    with service.client(
        {**service.admin, **XSRF, "content-type": "application/json", **headers}
    ) as client:
        return client.request(method, _concrete(path), content=content)


def test_every_mutating_endpoint_takes_a_body() -> None:
    mutating = {(m, p) for m, p in OPERATIONS if m in ("POST", "PUT")}
    assert mutating == set(WITH_BODY)


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_oversized_and_deep_bodies_are_refused(
    fault_service: Service, method: str, path: str
) -> None:
    big = b'{"name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    declared = _send(fault_service, method, path, big)
    assert declared.status_code == 413, declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    with fault_service.client({**fault_service.admin, **XSRF}) as client:
        streamed = client.request(method, _concrete(path), content=chunks())
    assert streamed.status_code == 413, streamed.text

    just_too_deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    absurd = b'{"a":' * 100_000 + b"1" + b"}" * 100_000  # under the size limit
    for body in (just_too_deep, absurd, b"[" * 500_000):
        response = _send(fault_service, method, path, body)
        assert response.status_code == 400, response.text[:300]
        assert response.json()  # a clear JSON error in the API's shape

    with fault_service.client(fault_service.admin) as client:
        assert client.get("/api/actions/connectors").status_code == 200  # still serving


def test_delete_ignores_a_huge_body(fault_service: Service) -> None:
    big = b"[" * 500_000
    for path in ("/api/actions/connector/{id}", "/s/{space_id}/api/actions/connector/{id}"):
        response = _send(fault_service, "DELETE", path, big)
        assert response.status_code == 404, response.text
