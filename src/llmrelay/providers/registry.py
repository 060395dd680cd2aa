"""Which provider object serves a connector: the one place ``apiProvider`` is looked up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmrelay.errors import ConnectorValidationError
from llmrelay.providers.azure import AzureProvider
from llmrelay.providers.base import Provider
from llmrelay.providers.openai import OpenAIProvider
from llmrelay.providers.other import OtherProvider

if TYPE_CHECKING:
    from llmrelay.domain.connectors import Connector

OPENAI = OpenAIProvider()
AZURE = AzureProvider()
OTHER = OtherProvider()

PROVIDERS: dict[str, Provider] = {p.api_provider: p for p in (OPENAI, AZURE, OTHER)}


def provider_for(connector_or_api_provider: Connector | str) -> Provider:
    """The provider for a connector (or an ``apiProvider`` value).

    Unknown values fail like Kibana's config validator does.
    """
    name = (
        connector_or_api_provider
        if isinstance(connector_or_api_provider, str)
        else connector_or_api_provider.provider
    )
    provider = PROVIDERS.get(name)
    if provider is None:
        detail = "API Provider is not supported" + (f": {name}" if name else "")
        raise ConnectorValidationError(
            "config", f"Error configuring OpenAI action: Error: {detail}"
        )
    return provider
