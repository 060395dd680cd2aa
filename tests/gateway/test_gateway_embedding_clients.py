"""``/v1/embeddings`` with the retrieval libraries people point at OpenAI: LangChain's
``OpenAIEmbeddings`` and LlamaIndex's ``OpenAIEmbedding`` / ``OpenAILikeEmbedding``, against
the fake upstream over TLS (a connector trusting the fake's CA) and mutual TLS."""

from __future__ import annotations

import asyncio
import struct

import httpx
import pytest
import trustme

from llmrelay.testing import FakeUpstream, embedding_vector
from tests.fixtures.service import Service
from tests.gateway.conftest import XSRF, base_url, events, key_for
from tests.helpers.pki import pki_secrets

TEXTS = ["Paris is the capital of France", "Berlin is the capital of Germany"]


def float32(vector: list[float]) -> list[float]:
    """``vector`` after a float32 round trip (what base64 answers decode to)."""
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def tls_connector(
    service: Service,
    space: str,
    upstream: FakeUpstream,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    connector_id: str | None = None,
) -> str:
    """An ``Other`` connector to ``upstream`` over TLS with the client certificate (mTLS
    servers ask for it) and the CA that signed the fake's certificate."""
    body = {
        "name": f"embeddings in {space}",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": upstream.url(), "defaultModel": "e5-small"},
        "secrets": pki_secrets(client_cert, ca),
    }
    path = "/api/actions/connector" + (f"/{connector_id}" if connector_id else "")
    with service.client(service.admin, base=f"/s/{space}") as admin:
        created = admin.post(path, json=body, headers=XSRF)
    assert created.status_code == 200, created.text
    made: str = created.json()["id"]
    return made


@pytest.mark.parametrize("server", ["tls_upstream", "mtls_upstream"])
def test_langchain_openai_embeddings(
    service: Service,
    request: pytest.FixtureRequest,
    server: str,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
) -> None:
    from langchain_openai import OpenAIEmbeddings

    upstream: FakeUpstream = request.getfixturevalue(server)
    space = f"lc-{server.split('_')[0]}"
    connector_id = tls_connector(service, space, upstream, ca, client_cert)
    key = key_for(service, space)

    async def embed() -> tuple[list[list[float]], list[float]]:
        with httpx.Client() as client:
            async with httpx.AsyncClient() as async_client:
                embeddings = OpenAIEmbeddings(
                    model=f"{connector_id}/e5-large",
                    base_url=base_url(service, space),
                    api_key=key,  # type: ignore[arg-type]
                    check_embedding_ctx_length=False,  # strings, not tiktoken arrays (no download)
                    max_retries=0,
                    http_client=client,
                    http_async_client=async_client,
                )
                documents = embeddings.embed_documents(TEXTS)
                return documents, await embeddings.aembed_query("Where is Paris?")

    documents, query = asyncio.run(embed())
    assert documents == [float32(embedding_vector(text)) for text in TEXTS]
    assert query == float32(embedding_vector("Where is Paris?"))
    first, second = upstream.requests
    assert first.path == "/v1/embeddings"
    assert first.json == {"input": TEXTS, "model": "e5-large", "encoding_format": "base64"}
    assert isinstance(second.json, dict) and second.json["input"] == ["Where is Paris?"]
    found = events(service, space, connector_id, 4)
    # by action, not position: an execution's start and end can share a timestamp
    executed = [e for e in found if e["event"]["action"] == "execute"]
    assert [e["llmrelay"]["endpoint"] for e in executed] == ["embeddings", "embeddings"]


def test_llamaindex_openai_embedding_and_openai_like(
    service: Service, tls_upstream: FakeUpstream, ca: trustme.CA, client_cert: trustme.LeafCert
) -> None:
    from llama_index.embeddings.openai import OpenAIEmbedding
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    # OpenAIEmbedding knows only OpenAI's model names: a connector given such an id
    # serves code written for OpenAI unchanged.
    named = tls_connector(service, "li", tls_upstream, ca, client_cert, "text-embedding-3-small")
    other = tls_connector(service, "li", tls_upstream, ca, client_cert)
    key = key_for(service, "li")
    api = base_url(service, "li")

    async def embed() -> tuple[list[list[float]], list[float]]:
        with httpx.Client() as client:
            async with httpx.AsyncClient() as async_client:
                openai_embedding = OpenAIEmbedding(
                    model="text-embedding-3-small", api_base=api, api_key=key, http_client=client
                )
                like = OpenAILikeEmbedding(
                    model_name=f"{other}/bge-m3",
                    api_base=api,
                    api_key=key,
                    async_http_client=async_client,
                )
                vectors = openai_embedding.get_text_embedding_batch(TEXTS)
                return vectors, await like.aget_query_embedding("Where is Paris?")

    vectors, query = asyncio.run(embed())
    assert [[round(x, 5) for x in v] for v in vectors] == [
        [round(x, 5) for x in float32(embedding_vector(text))] for text in TEXTS
    ]
    assert [round(x, 5) for x in query] == [
        round(x, 5) for x in float32(embedding_vector("Where is Paris?"))
    ]
    first, second = tls_upstream.requests
    assert isinstance(first.json, dict) and first.json["input"] == TEXTS
    assert first.json["model"] == "e5-small"  # the connector's defaultModel
    assert isinstance(second.json, dict) and second.json["model"] == "bge-m3"
    assert second.json["input"] == ["Where is Paris?"]
    assert events(service, "li", named, 2)[0]["llmrelay"]["endpoint"] == "embeddings"
