"""Connector definitions (``.gen-ai``): config models, their validator and the Connector.

Field names, defaults and messages are Kibana's (spec §1.2-§1.4) so that a connector body
accepted by Kibana's API is accepted here and stored in the same shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from pydantic import ValidationError

from llmrelay.domain.actions_settings import ActionsSettings, VerificationMode
from llmrelay.domain.addresses import host_refusal, normalise_host, refusal_message
from llmrelay.domain.headers import header_issues
from llmrelay.domain.naming import (
    ID_REQUIRED,
    NAME_EMPTY,
    connector_id_problem,
    connector_name_problem,
)
from llmrelay.domain.pki import PkiMaterial
from llmrelay.domain.secrets import ConnectorSecrets, secrets_to_dict, validate_secrets
from llmrelay.domain.urls import assert_url, hostname_of
from llmrelay.domain.validation import (
    Number,
    StrictModel,
    blank_string_issues,
    issue,
    issues_from,
    join_issues,
    json_type,
    short_repr,
)
from llmrelay.errors import ConnectorValidationError, UrlError

__all__ = [
    "API_PROVIDERS",
    "GEN_AI",
    "ApiProvider",
    "AzureConfig",
    "Connector",
    "ConnectorConfig",
    "ConnectorSecrets",
    "OpenAIConfig",
    "OtherConfig",
    "ResponsesApi",
    "config_to_dict",
    "secrets_to_dict",
    "validate_config",
    "validate_config_rules",
    "validate_secrets",
]

ApiProvider = Literal["OpenAI", "Azure OpenAI", "Other"]
ResponsesApi = Literal["native", "translate", "auto"]
"""How an ``Other`` connector serves ``/v1/responses`` (``config.responsesApi``): forwarded
to the server's own ``/responses``, translated to chat completions, or ``auto``: native
until the server answers 404/405, then translated (remembered per connector)."""
API_PROVIDERS: tuple[ApiProvider, ...] = ("OpenAI", "Azure OpenAI", "Other")
GEN_AI = ".gen-ai"

_ALLOWED_PROVIDERS = ", ".join(f'"{name}"' for name in API_PROVIDERS)
_CONNECTOR_KEYS = frozenset(
    {"id", "name", "connector_type_id", "actionTypeId", "config", "secrets", "is_preconfigured"}
)


class _BaseConfig(StrictModel):
    """Fields every provider shares.

    ``verificationMode`` is Other-only in Kibana; it is accepted everywhere here because
    PKI works for every provider (docs/deviations.md a).
    """

    apiUrl: str
    headers: dict[str, str] | None = None
    contextWindowLength: Number | None = None
    temperature: Number | None = None
    verificationMode: VerificationMode | None = None


class OpenAIConfig(_BaseConfig):
    """api.openai.com (or a proxy of it); ``defaultModel`` is filled in and persisted."""

    apiProvider: Literal["OpenAI"]
    organizationId: str | None = None
    projectId: str | None = None
    defaultModel: str | None = None


class AzureConfig(_BaseConfig):
    """An Azure deployment URL; ``defaultModel`` only for gateways that need a model."""

    apiProvider: Literal["Azure OpenAI"]
    defaultModel: str | None = None


class OtherConfig(_BaseConfig):
    """Any OpenAI-compatible server; it cannot guess a model, so one is required.

    llmrelay additions (docs/deviations.md): ``streamUsage`` - the server accepts
    ``stream_options.include_usage`` and sends a usage chunk (default false: usage of
    streams is estimated); ``serverTokenizer`` - estimate with the server's own
    ``POST /tokenize`` (llama.cpp) instead of cl100k when it answers;
    ``responsesApi`` - how ``/v1/responses`` is served (:data:`ResponsesApi`, default auto).
    """

    apiProvider: Literal["Other"]
    defaultModel: str
    enableNativeFunctionCalling: bool | None = None
    streamUsage: bool | None = None
    serverTokenizer: bool | None = None
    responsesApi: ResponsesApi | None = None


ConnectorConfig = OpenAIConfig | AzureConfig | OtherConfig

_MODELS: dict[str, type[OpenAIConfig] | type[AzureConfig] | type[OtherConfig]] = {
    "OpenAI": OpenAIConfig,
    "Azure OpenAI": AzureConfig,
    "Other": OtherConfig,
}


def _config_error(detail: str) -> ConnectorValidationError:
    return ConnectorValidationError("config", detail)


def _parse_config(raw: object, settings: ActionsSettings) -> ConnectorConfig:
    """The schema step: provider dispatch, strict keys, coercion, non-blank strings, and
    llmrelay's header rule (domain/headers.py)."""
    if not isinstance(raw, Mapping):
        raise _config_error(issue("", f"Expected object, received {json_type(raw)}"))
    values = dict(raw)
    provider = values.get("apiProvider")
    if provider is None:
        raise _config_error(issue("apiProvider", f"Required; expected one of {_ALLOWED_PROVIDERS}"))
    model = _MODELS.get(provider) if isinstance(provider, str) else None
    if model is None:
        raise _config_error(
            issue(
                "apiProvider",
                f"Invalid enum value. Expected one of {_ALLOWED_PROVIDERS}, "
                f"received {short_repr(provider)}",
            )
        )
    if model is OpenAIConfig and "defaultModel" not in values:
        values["defaultModel"] = settings.defaultModel
    problems: list[str] = []
    try:
        config = model.model_validate(values)
    except ValidationError as err:
        problems = issues_from(err)
    problems += [p for p in blank_string_issues(values) if p not in problems]
    headers = values.get("headers")
    if isinstance(headers, Mapping):
        problems += header_issues(headers)
    if problems:
        raise _config_error(join_issues(problems))
    return config


def validate_config_rules(config: Mapping[str, object], settings: ActionsSettings) -> None:
    """Kibana's custom config validator (spec §1.4): URL, allow-list, then provider;
    between the last two, llmrelay's refusal of metadata names and forbidden literal
    addresses (issue 7 §2).

    Runs on already schema-valid config; also callable on raw dicts, which is how the
    ``API Provider is not supported`` branch (unreachable through the schema) is reached.
    """
    url = config.get("apiUrl")
    provider = config.get("apiProvider")
    try:
        assert_url(url if isinstance(url, str) else "")
        host = hostname_of(str(url))
        if not settings.host_allowed(host):
            raise UrlError(
                f'error validating url: target url "{url}" is not added to the Kibana config '
                "xpack.actions.allowedHosts"
            )
        refusal = host_refusal(host, deny_private=settings.denyPrivateNetworks)
        if refusal is not None:  # literal addresses and metadata names only: no DNS here
            raise UrlError(
                "error validating url: " + refusal_message(normalise_host(host), refusal)
            )
        if provider not in API_PROVIDERS:
            suffix = f": {provider}" if provider else ""
            raise UrlError(f"API Provider is not supported{suffix}")
    except UrlError as err:
        raise _config_error(f"Error configuring OpenAI action: Error: {err}") from None


def validate_config(raw: object, settings: ActionsSettings) -> ConnectorConfig:
    """Schema then custom rules; every failure is a ConnectorValidationError("config")."""
    if isinstance(raw, OpenAIConfig | AzureConfig | OtherConfig):
        raw = config_to_dict(raw)
    config = _parse_config(raw, settings)
    validate_config_rules({"apiUrl": config.apiUrl, "apiProvider": config.apiProvider}, settings)
    return config


def config_to_dict(config: ConnectorConfig) -> dict[str, object]:
    """JSON-ready config with Kibana's keys and no null fields (what is stored and returned)."""
    dumped: dict[str, object] = config.model_dump(mode="json", exclude_none=True)
    return dumped


@dataclass(frozen=True)
class Connector:
    """A validated ``.gen-ai`` connector: what the store holds and the executor runs."""

    id: str
    name: str
    config: ConnectorConfig
    secrets: ConnectorSecrets
    connector_type_id: str = GEN_AI
    is_preconfigured: bool = False

    @property
    def provider(self) -> ApiProvider:
        return self.config.apiProvider

    def pki(self) -> PkiMaterial | None:
        """Client-certificate material for the TLS layer, or None when the key is an API key."""
        return self._pki

    @cached_property
    def _pki(self) -> PkiMaterial | None:
        # decoded once per connector object: every outbound call asks for it
        return self.secrets.pki(self.config.verificationMode)

    @classmethod
    def from_kibana(
        cls,
        data: Mapping[str, object],
        *,
        settings: ActionsSettings | None = None,
        id: str | None = None,
    ) -> Connector:
        """Build from a Kibana create body (or a preconfigured entry), validating everything.

        Checks run in Kibana's order: name, type, config, secrets. ``id`` wins over
        ``data["id"]``; without either a random UUID is used, as Kibana does.
        """
        settings = settings or ActionsSettings()
        if not isinstance(data, Mapping):
            raise ConnectorValidationError(
                "connector", issue("", f"Expected object, received {json_type(data)}")
            )
        unknown = [str(key) for key in data if key not in _CONNECTOR_KEYS]
        if unknown:
            keys = ", ".join(f'"{key}"' for key in unknown)
            raise ConnectorValidationError("connector", f"Unrecognized keys: {keys}")
        name = data.get("name")
        problem = connector_name_problem(name)
        if problem is not None or not isinstance(name, str):  # (the second for mypy)
            raise ConnectorValidationError("connector", issue("name", problem or NAME_EMPTY))
        type_id = _connector_type(data)
        connector_id = id if id is not None else data.get("id")
        if connector_id is None:
            connector_id = str(uuid.uuid4())
        problem = connector_id_problem(connector_id)
        if problem is not None or not isinstance(connector_id, str):
            raise ConnectorValidationError("connector", issue("id", problem or ID_REQUIRED))
        preconfigured = data.get("is_preconfigured", False)
        if not isinstance(preconfigured, bool):
            raise ConnectorValidationError(
                "connector",
                issue("is_preconfigured", f"Expected boolean, received {json_type(preconfigured)}"),
            )
        raw_config = data.get("config")
        config = validate_config({} if raw_config is None else raw_config, settings)
        secrets = validate_secrets(data.get("secrets"))
        return cls(
            id=connector_id,
            name=name,
            config=config,
            secrets=secrets,
            connector_type_id=type_id,
            is_preconfigured=preconfigured,
        )


def _connector_type(data: Mapping[str, object]) -> str:
    """``connector_type_id`` (API) or ``actionTypeId`` (kibana.yml); only ``.gen-ai``."""
    snake, camel = data.get("connector_type_id"), data.get("actionTypeId")
    if snake is not None and camel is not None and snake != camel:
        raise ConnectorValidationError(
            "connector", "connector_type_id and actionTypeId disagree; give only one"
        )
    type_id = snake if snake is not None else camel
    if type_id is None:
        raise ConnectorValidationError("connector", issue("connector_type_id", "Required"))
    if type_id != GEN_AI:
        raise ConnectorValidationError(
            "connector",
            issue(
                "connector_type_id",
                f'unsupported connector type {short_repr(type_id)}; only "{GEN_AI}" is supported',
            ),
        )
    return GEN_AI
