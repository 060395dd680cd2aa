"""The OpenAPI document's components: request bodies generated from the domain's pydantic
models (connector config and secrets, the params model of every sub-action in
:data:`~llmrelay.domain.subactions.SUB_ACTIONS`, so registering a sub-action documents it),
plus the hand-written response shapes (no models: they are built by the route handlers).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from llmrelay.domain.connector_types import CONNECTOR_TYPES
from llmrelay.domain.connectors import AzureConfig, OpenAIConfig, OtherConfig
from llmrelay.domain.routes import RouteConfig
from llmrelay.domain.secrets import ConnectorSecrets
from llmrelay.domain.subactions import SUB_ACTIONS
from llmrelay.domain.validation import StrictModel

__all__ = ["component_schemas"]

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "required": ["statusCode", "error", "message"],
    "properties": {
        "statusCode": {"type": "integer"},
        "error": {"type": "string"},
        "message": {"type": "string"},
    },
}
_CONNECTOR = {
    "type": "object",
    "required": ["id", "name", "connector_type_id", "is_preconfigured"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "connector_type_id": {"type": "string", "example": ".gen-ai"},
        "config": {"type": "object", "additionalProperties": True},
        "is_preconfigured": {"type": "boolean"},
        "is_deprecated": {"type": "boolean"},
        "is_missing_secrets": {"type": "boolean"},
        "is_system_action": {"type": "boolean"},
        "is_connector_type_deprecated": {"type": "boolean"},
        "referenced_by_count": {"type": "integer"},
    },
}
_EXECUTE_RESULT = {
    "type": "object",
    "required": ["status", "connector_id"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "error"]},
        "connector_id": {"type": "string"},
        "data": {},
        "message": {"type": "string"},
        "service_message": {"type": "string"},
        "retry": {"type": ["boolean", "string"]},
        "errorSource": {"type": "string", "enum": ["user", "framework"]},
    },
}


_COUNT = {"type": "integer", "minimum": 0}
_USAGE_SUMS: dict[str, Any] = {
    "prompt_tokens": _COUNT,
    "completion_tokens": _COUNT,
    "total_tokens": _COUNT,
    "executions": _COUNT,
    "failures": _COUNT,
    "estimated_tokens": _COUNT,
    "reported_tokens": _COUNT,
    "cost_usd": {
        "type": ["number", "null"],
        "description": "USD of the priced executions; null when none was priced",
    },
    "unpriced_tokens": {**_COUNT, "description": "tokens of executions without a price"},
    "unpriced_executions": _COUNT,
}
_USAGE_REPORT = {
    "type": "object",
    "required": ["start", "end", "interval", "totals", "buckets"],
    "properties": {
        "start": {"type": "string"},
        "end": {"type": "string"},
        "interval": {"type": "string"},
        "group_by": {"type": ["string", "null"]},
        "connector_id": {"type": ["string", "null"]},
        "endpoint": {"type": ["string", "null"]},
        "totals": {"type": "object", "properties": _USAGE_SUMS},
        "buckets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "bucket": {"type": "string"},
                    "key": {"type": ["string", "null"]},
                    **_USAGE_SUMS,
                },
            },
        },
    },
}


@cache
def _model_schemas() -> dict[str, Any]:
    """Generated from the models: configs, secrets, each sub-action's params, and the
    bodies built around them."""
    configs: list[type[StrictModel]] = [OpenAIConfig, AzureConfig, OtherConfig, RouteConfig]
    params = list(dict.fromkeys(spec.params for spec in SUB_ACTIONS.values()))
    models: list[type[StrictModel]] = [*configs, ConnectorSecrets, *params]
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def ref(model: type[StrictModel]) -> dict[str, Any]:
        return dict(refs[(model, "validation")])

    schemas["ConnectorConfig"] = {"oneOf": [ref(m) for m in configs]}
    common = {
        "name": {"type": "string", "minLength": 1},
        "config": {"$ref": _REF.format(model="ConnectorConfig")},
        "secrets": ref(ConnectorSecrets),
    }
    schemas["ConnectorCreate"] = {
        "type": "object",
        "required": ["name", "connector_type_id"],
        "additionalProperties": False,
        "properties": {
            **common,
            "connector_type_id": {"type": "string", "enum": list(CONNECTOR_TYPES)},
        },
    }
    schemas["ConnectorUpdate"] = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": common,
    }
    schemas["ExecuteParams"] = {
        "oneOf": [
            {
                "type": "object",
                "description": spec.description,
                "required": ["subAction"],
                "properties": {
                    "subAction": {"type": "string", "const": spec.name},
                    "subActionParams": ref(spec.params),
                },
            }
            for spec in SUB_ACTIONS.values()
        ]
    }
    schemas["ExecuteBody"] = {
        "type": "object",
        "required": ["params"],
        "additionalProperties": False,
        "properties": {"params": {"$ref": _REF.format(model="ExecuteParams")}},
    }
    return schemas


def component_schemas() -> dict[str, Any]:
    """``components.schemas``: the response shapes and the generated request bodies."""
    return {
        "Error": _ERROR,
        "Connector": _CONNECTOR,
        "ExecuteResult": _EXECUTE_RESULT,
        "UsageReport": _USAGE_REPORT,
        **_model_schemas(),
    }
