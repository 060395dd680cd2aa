"""Provider tests: pure request construction, no network.

``make_connector`` builds connectors the way users do (``Connector.from_kibana``).
"""

from __future__ import annotations

from functools import cache

import orjson
import trustme

from llmrelay.domain.connectors import Connector
from llmrelay.providers.base import PreparedCall
from tests.helpers.pki import pki_secrets

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
OPENAI_LEGACY_URL = "https://api.openai.com/v1/completions"
AZURE_URL = (
    "https://My-test-resource-123.openai.azure.com/openai/deployments/NEW-DEPLOYMENT-321"
    "/chat/completions?api-version=2023-05-15"
)
OTHER_URL = "http://localhost:1234/v1/chat/completions"
CUSTOM_HEADERS = {"X-My-Custom-Header": "foo", "Authorization": "override"}
MESSAGES = [{"role": "user", "content": "Hello world"}]


@cache
def _client_pki() -> dict[str, str]:
    """A real certificate and its key: PKI secrets are read and matched when validated."""
    return pki_secrets(trustme.CA().issue_cert("client"))


def make_connector(
    provider: str,
    api_url: str,
    *,
    api_key: str | None = "123",
    pki: bool = False,
    **config: object,
) -> Connector:
    """A validated connector; ``pki=True`` adds client-certificate secrets."""
    secrets: dict[str, object] = {}
    if api_key is not None:
        secrets["apiKey"] = api_key
    if pki:
        secrets.update(_client_pki())
    data = {
        "name": "test connector",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": provider, "apiUrl": api_url, **config},
        "secrets": secrets,
    }
    return Connector.from_kibana(data, id="connector-1")


def sent_json(call: PreparedCall) -> object:
    """The body as the upstream receives it, parsed (compare JSON, not strings)."""
    parsed = orjson.loads(call.body)
    assert parsed == call.json_body
    return parsed


def lower_names(headers: dict[str, str]) -> list[str]:
    return sorted(name.lower() for name in headers)
