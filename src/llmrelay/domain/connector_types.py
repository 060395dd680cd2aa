"""The connector types llmrelay knows: one entry per type, read by the actions API
(create, update, ``connector_types``) and by whatever turns a stored connector back into
something to run. Adding a type is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import (
    GEN_AI,
    Connector,
    ConnectorSecrets,
    config_to_dict,
    secrets_to_dict,
    validate_config,
    validate_secrets,
)
from llmrelay.domain.routes import (
    ROUTE,
    Route,
    route_config_to_dict,
    validate_route_config,
    validate_route_secrets,
)

__all__ = ["CONNECTOR_TYPES", "ConnectorType", "Runnable", "connector_type"]

Runnable = Connector | Route
"""What a stored connector becomes at run time: a connector to call, or a route."""

_LLM_FEATURES = (
    "generativeAIForSecurity",
    "generativeAIForObservability",
    "generativeAIForSearchPlayground",
)


@dataclass(frozen=True)
class ConnectorType:
    """One connector type: its ``connector_types`` entry and its validators.

    ``config``: raw config -> the dict to store (raises ``ConnectorValidationError``);
    ``secrets``: raw secrets -> the dict to seal; ``runnable``: a stored connector's
    parts (id, name, config, secrets) -> what executions run.
    """

    id: str
    name: str
    minimum_license_required: str
    config: Callable[[object, ActionsSettings], dict[str, object]]
    secrets: Callable[[object], dict[str, object]]
    runnable: Callable[[str, str, Mapping[str, object], object, ActionsSettings], Runnable]

    def listing(self) -> dict[str, object]:
        """The ``GET /api/actions/connector_types`` entry (enabled flags set by the caller)."""
        return {
            "id": self.id,
            "name": self.name,
            "enabled": True,
            "enabled_in_config": True,
            "enabled_in_license": True,
            "minimum_license_required": self.minimum_license_required,
            "supported_feature_ids": list(_LLM_FEATURES),
            "is_system_action_type": False,
            "is_deprecated": False,
        }


def _gen_ai_config(raw: object, settings: ActionsSettings) -> dict[str, object]:
    return config_to_dict(validate_config(raw, settings))


def _gen_ai_secrets(raw: object) -> dict[str, object]:
    return dict(secrets_to_dict(validate_secrets(raw)))


def _gen_ai_runnable(
    connector_id: str,
    name: str,
    config: Mapping[str, object],
    secrets: object,
    settings: ActionsSettings,
) -> Runnable:
    return Connector(
        id=connector_id,
        name=name,
        config=validate_config(config, settings),
        secrets=ConnectorSecrets() if secrets is None else validate_secrets(secrets),
    )


def _route_config(raw: object, settings: ActionsSettings) -> dict[str, object]:
    return route_config_to_dict(validate_route_config(raw))


def _route_secrets(raw: object) -> dict[str, object]:
    validate_route_secrets(raw)
    return {}


def _route_runnable(
    connector_id: str,
    name: str,
    config: Mapping[str, object],
    secrets: object,
    settings: ActionsSettings,
) -> Runnable:
    return Route(id=connector_id, name=name, config=validate_route_config(config))


CONNECTOR_TYPES: Mapping[str, ConnectorType] = {
    GEN_AI: ConnectorType(
        id=GEN_AI,
        name="OpenAI",
        minimum_license_required="enterprise",
        config=_gen_ai_config,
        secrets=_gen_ai_secrets,
        runnable=_gen_ai_runnable,
    ),
    ROUTE: ConnectorType(
        id=ROUTE,
        name="llmrelay route",
        minimum_license_required="basic",
        config=_route_config,
        secrets=_route_secrets,
        runnable=_route_runnable,
    ),
}


def connector_type(type_id: str) -> ConnectorType | None:
    """The registered type of that id, or None."""
    return CONNECTOR_TYPES.get(type_id)
