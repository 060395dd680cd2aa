"""Provider-specific request rules; nothing outside this package branches on the provider."""

from llmrelay.providers.azure import AzureProvider
from llmrelay.providers.base import PreparedCall, Provider
from llmrelay.providers.openai import OpenAIProvider
from llmrelay.providers.other import OtherProvider
from llmrelay.providers.registry import PROVIDERS, provider_for

__all__ = [
    "PROVIDERS",
    "AzureProvider",
    "OpenAIProvider",
    "OtherProvider",
    "PreparedCall",
    "Provider",
    "provider_for",
]
