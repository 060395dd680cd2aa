"""Operability endpoints: /api/status (Kibana's shape) and /metrics (Prometheus)."""

from __future__ import annotations

import json
import logging

import pytest

from llmrelay.logs import JsonFormatter, redact
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service

XSRF = {"kbn-xsrf": "true"}


def test_status_shapes(service: Service) -> None:
    with service.client() as anonymous:
        brief = anonymous.get("/api/status")
    with service.client(service.admin) as client:
        full = client.get("/api/status")
    assert brief.status_code == 200
    assert brief.json() == {"status": {"overall": {"level": "available"}}}
    body = full.json()
    assert body["name"] == "llmrelay" and body["uuid"] == service.settings.server_uuid
    assert body["status"]["overall"]["level"] == "available"
    assert set(body["status"]["core"]) == {"store", "eventWriter", "spool"}
    assert all(part["level"] == "available" for part in body["status"]["core"].values())


def test_metrics_count_executions_tokens_and_errors(
    service: Service, upstream: FakeUpstream
) -> None:
    with service.client(service.admin, base="/s/metrics") as client:
        body = {
            "name": "metered",
            "connector_type_id": ".gen-ai",
            "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "m"},
            "secrets": {"apiKey": "sk-metrics-secret-1"},
        }
        connector_id = client.post("/api/actions/connector", json=body, headers=XSRF).json()["id"]
        run = {
            "subAction": "run",
            "subActionParams": {
                "body": json.dumps({"messages": [{"role": "user", "content": "a b"}]})
            },
        }
        for _ in range(3):
            client.post(
                f"/api/actions/connector/{connector_id}/_execute",
                json={"params": run},
                headers=XSRF,
            )
        upstream.fail(429, "slow down")
        client.post(
            f"/api/actions/connector/{connector_id}/_execute", json={"params": run}, headers=XSRF
        )
    with service.client() as anonymous:
        text = anonymous.get("/metrics").text
    label = f'connector_id="{connector_id}"'
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("llmrelay_executions_total{") and label in ln and 'outcome="success"' in ln
    )
    assert line.endswith(" 3.0")
    assert any(
        ln.startswith("llmrelay_upstream_errors_total{") and label in ln and 'kind="http_429"' in ln
        for ln in text.splitlines()
    )
    prompt = [
        ln
        for ln in text.splitlines()
        if ln.startswith("llmrelay_tokens_total{") and label in ln and 'kind="prompt"' in ln
    ]
    assert prompt and float(prompt[0].rsplit(" ", 1)[1]) == 6.0  # 3 x 2 words
    assert "llmrelay_added_latency_seconds_bucket" in text
    assert "llmrelay_event_queue_depth" in text
    assert "sk-metrics-secret-1" not in text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer sk-live-abcdef123456", "sk-live-abcdef123456"),
        ('{"apiKey": "hunter2-secret"}', "hunter2-secret"),
        ("api-key: 0123456789abcdef", "0123456789abcdef"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
        ("Authorization: ApiKey Zm9vOmJhcg==", "Zm9vOmJhcg=="),
    ],
)
def test_log_redaction(text: str, leak: str) -> None:
    assert leak not in redact(text)
    record = logging.LogRecord("llmrelay", logging.INFO, __file__, 1, text, None, None)
    line = JsonFormatter().format(record)
    assert leak not in line and json.loads(line)["log.level"] == "info"
