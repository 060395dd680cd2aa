"""PKI secrets through the actions HTTP API: every key form saves and runs mutual TLS;
a key that cannot work is a 400 with Kibana's wrapper (deviation (i))."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trustme

from llmrelay.domain.pki import ENCRYPTED_PRIVATE_KEY
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.helpers.pki import KEY_FORMS, b64, encrypted_key_pem, key_pem, pki_secrets

XSRF = {"kbn-xsrf": "true"}
PREFIX = "error validating connector type secrets: "
MISMATCH = PREFIX + "Private key data does not match the certificate data"
RUN = {"subAction": "run", "subActionParams": {"body": '{"messages": []}'}}


def body(url: str, secrets: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "mutual TLS",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "m"},
        "secrets": secrets,
    }


def bad_request(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["statusCode"] == 400 and payload["error"] == "Bad Request"
    message = payload["message"]
    assert isinstance(message, str)
    return message


@pytest.mark.parametrize("form", KEY_FORMS)
def test_every_key_form_saves_and_runs_mutual_tls(
    form: str,
    service: Service,
    mtls_upstream: FakeUpstream,
    client_certs: dict[str, trustme.LeafCert],
    ca: trustme.CA,
) -> None:
    secrets = pki_secrets(client_certs[form], ca, form=form)
    with service.client(service.admin, base="/s/pki") as client:
        created = client.post(
            "/api/actions/connector", json=body(mtls_upstream.url(), secrets), headers=XSRF
        )
        assert created.status_code == 200, created.text
        executed = client.post(
            f"/api/actions/connector/{created.json()['id']}/_execute",
            json={"params": RUN},
            headers=XSRF,
        )
    assert executed.status_code == 200, executed.text
    assert executed.json()["status"] == "ok", executed.text
    assert mtls_upstream.last_request.path.endswith("/chat/completions")


def test_mismatched_key_is_refused_on_create_and_update(
    service: Service, client_cert: trustme.LeafCert, ca: trustme.CA
) -> None:
    stranger = ca.issue_cert("stranger")
    secrets = {**pki_secrets(client_cert), "privateKeyData": b64(key_pem(stranger, "ec-sec1"))}
    url = "https://localhost:9/v1/chat/completions"
    with service.client(service.admin, base="/s/pki-bad") as client:
        created = client.post("/api/actions/connector", json=body(url, secrets), headers=XSRF)
        assert bad_request(created) == MISMATCH
        good = client.post(
            "/api/actions/connector", json=body(url, pki_secrets(client_cert)), headers=XSRF
        )
        assert good.status_code == 200, good.text
        updated = client.put(
            f"/api/actions/connector/{good.json()['id']}",
            json={
                key: value
                for key, value in body(url, secrets).items()
                if key != "connector_type_id"
            },
            headers=XSRF,
        )
        assert bad_request(updated) == MISMATCH


@pytest.mark.parametrize("legacy", [False, True], ids=["pkcs8-encrypted", "proc-type-encrypted"])
def test_encrypted_key_is_refused_with_a_clear_message(
    legacy: bool, service: Service, client_cert: trustme.LeafCert
) -> None:
    secrets = {
        **pki_secrets(client_cert),
        "privateKeyData": b64(encrypted_key_pem(client_cert, legacy=legacy)),
    }
    url = "https://localhost:9/v1/chat/completions"
    with service.client(service.admin, base="/s/pki-bad") as client:
        response = client.post("/api/actions/connector", json=body(url, secrets), headers=XSRF)
    assert bad_request(response) == PREFIX + ENCRYPTED_PRIVATE_KEY
