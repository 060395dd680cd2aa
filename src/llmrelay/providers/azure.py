"""The ``Azure OpenAI`` provider: deployment URLs, ``api-key`` auth."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from llmrelay.providers.base import (
    CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PreparedCall,
    async_iterator_body,
    chat_call,
    json_call,
    merge_headers,
    parse_object,
    unchanged_call,
    verbatim_call,
)
from llmrelay.providers.endpoints import (
    beside_chat_url,
    endpoint_call,
    split_api_url,
    with_path,
)

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector, ResponsesApi

# The three deployment routes, anywhere in the path (custom domains and API gateways
# included); the route must end the path, so ".../not-completions" does not match.
DEPLOYMENT_ROUTE = re.compile(
    r"(/openai/deployments/[^/]+)/(?:chat/completions|completions|extensions/chat/completions)/?$"
)


def is_deployment_url(url: str) -> bool:
    """Whether ``url`` targets a chat/completions/extensions route of a deployment."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return DEPLOYMENT_ROUTE.search(path) is not None


def endpoint_url(connector: Connector, endpoint: str) -> str:
    """``.../openai/deployments/<d>/<endpoint>?api-version=...`` for a deployment URL;
    another URL ending in ``/chat/completions`` (the ``/openai/v1`` API) gets the
    endpoint beside it; anything else cannot be derived."""
    parts = split_api_url(connector, endpoint)
    deployment = DEPLOYMENT_ROUTE.search(parts.path)
    if deployment is None:
        return beside_chat_url(connector, endpoint)
    path = parts.path[: deployment.start()] + f"{deployment.group(1)}/{endpoint}"
    return with_path(parts, path)


def responses_url(connector: Connector) -> tuple[str, str | None]:
    """(URL, deployment) of the Responses API, which Azure serves only in its ``/openai/v1``
    shape: a deployment URL becomes ``<what precedes /openai>/openai/v1/responses`` (no
    ``api-version``: the v1 API takes none) and its deployment is the model; a URL of the
    v1 API ending in ``/chat/completions`` gets ``/responses`` beside it."""
    parts = split_api_url(connector, "responses")
    deployment = DEPLOYMENT_ROUTE.search(parts.path)
    if deployment is None:
        return beside_chat_url(connector, "responses"), None
    prefix = parts.path[: deployment.start()]
    name = unquote(deployment.group(1).rsplit("/", 1)[1])
    url = with_path(parts._replace(query=""), prefix + "/openai/v1/responses")
    return url, name


@dataclass(frozen=True, slots=True)
class AzureProvider:
    api_provider: str = "Azure OpenAI"

    def headers(self, connector: Connector) -> dict[str, str]:
        """``api-key`` auth; unlike OpenAI/Other a custom ``Authorization`` survives."""
        api_key = connector.secrets.apiKey
        auth = {"api-key": api_key} if api_key else {}
        auth["content-type"] = JSON_CONTENT_TYPE
        return merge_headers({CONTENT_TYPE: JSON_CONTENT_TYPE}, connector.config.headers, auth)

    def prepare(self, connector: Connector, body: str, *, stream: bool) -> PreparedCall:
        """Deployment URLs get the stream flag (and the optional default model); others
        are sent the body unchanged. Azure infers the model from the deployment."""
        url = connector.config.apiUrl
        headers = self.headers(connector)
        if is_deployment_url(url):
            return chat_call(
                connector, headers, body, stream=stream, request_usage=True, strip_tools=False
            )
        sent = parse_object(body)
        if sent is None:
            return verbatim_call(url, headers, body)
        return unchanged_call(url, headers, body, sent)

    def prepare_async_iterator(
        self, connector: Connector, body: Mapping[str, object], *, default_model: str
    ) -> PreparedCall:
        """POST to the configured deployment URL, ``api-version`` query included."""
        sent = async_iterator_body(
            body, configured_model=connector.config.defaultModel, default_model=default_model
        )
        return json_call(connector.config.apiUrl, self.headers(connector), sent, "")

    def prepare_endpoint(
        self, connector: Connector, endpoint: str, body: Mapping[str, object]
    ) -> PreparedCall:
        """The deployment's ``/<endpoint>`` with the same ``api-version``; the deployment
        decides the model, so none is injected. ``responses``: see :func:`responses_url`;
        the v1 API names the deployment as ``model``, so it is sent when the body has none."""
        if endpoint == "responses":
            url, deployment = responses_url(connector)
            model = deployment or connector.config.defaultModel
            return endpoint_call(url, self.headers(connector), body, model)
        return endpoint_call(endpoint_url(connector, endpoint), self.headers(connector), body, None)

    def responses_mode(self, connector: Connector) -> ResponsesApi:
        return "native"

    def stream_usage(self, connector: Connector) -> bool:
        """The API sends a usage chunk when asked (``stream_options.include_usage``)."""
        return True

    def tokenizer_url(self, connector: Connector) -> str | None:
        return None
