"""No secret in any response, log line or event, across successes and failures."""

from __future__ import annotations

import json
import logging

import pytest
import trustme

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.helpers.pki import pki_secrets

XSRF = {"kbn-xsrf": "true"}
API_KEY = "sk-never-show-me-7f3a9"


def test_secrets_stay_secret(
    service: Service,
    upstream: FakeUpstream,
    client_cert: trustme.LeafCert,
    ca: trustme.CA,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pki = pki_secrets(client_cert, ca)
    secrets_seen: list[str] = [API_KEY, *pki.values()]
    texts: list[str] = []
    with service.client(service.admin, base="/s/secrets") as client:
        made = []
        for secrets in ({"apiKey": API_KEY}, {**pki, "apiKey": API_KEY}):
            body = {
                "name": "secretive",
                "connector_type_id": ".gen-ai",
                "config": {
                    "apiProvider": "Other",
                    "apiUrl": upstream.url(),
                    "defaultModel": "m",
                    "headers": {"X-Trace": "t"},
                },
                "secrets": secrets,
            }
            response = client.post("/api/actions/connector", json=body, headers=XSRF)
            texts.append(response.text)
            made.append(response.json()["id"])
        run = {"subAction": "run", "subActionParams": {"body": json.dumps({"messages": []})}}
        for connector_id in made:
            for script in (None, 401, 422, 500):
                if script:
                    upstream.fail(script, f"upstream says {script}")
                response = client.post(
                    f"/api/actions/connector/{connector_id}/_execute",
                    json={"params": run},
                    headers=XSRF,
                )
                texts.append(response.text)
            texts.append(client.get(f"/api/actions/connector/{connector_id}").text)
            texts.append(
                client.get(f"/api/event_log/connector/{connector_id}/_find?per_page=100").text
            )
        bad = client.post(
            "/api/actions/connector",
            json={
                "name": "x",
                "connector_type_id": ".gen-ai",
                "config": {},
                "secrets": {"apiKey": API_KEY, "bogus": API_KEY},
            },
            headers=XSRF,
        )
        texts.append(bad.text)
        texts.append(client.get("/api/actions/connectors").text)
    texts.append(caplog.text)
    # the upstream did receive the key: the check below is meaningful
    assert any(r.headers.get("authorization") == f"Bearer {API_KEY}" for r in upstream.requests)
    for text in texts:
        for secret in secrets_seen:
            assert secret not in text
