"""The one door into the core: :class:`Relay` and its services.

``web/`` and ``cli/`` reach connectors, executions, the event log, users and API keys,
health and the first start only through this package; everything they need from the layers
below is named here (value types that cross the door, the errors they map).
"""

from llmrelay.execution.errors import framework_error_message, response_error_message
from llmrelay.execution.gateway import GATEWAY_SOURCE, GatewayResult
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.service.access import AccessService, api_key_json, open_access, user_json
from llmrelay.service.bootstrap import (
    FirstStart,
    ensure_admin,
    ensure_encryption_key,
    first_start,
    prepare_home,
)
from llmrelay.service.connectors import (
    CONNECTOR_TYPE,
    ConnectorService,
    ConnectorView,
    load_preconfigured,
)
from llmrelay.service.execution import ExecutionService, Stream, run_without_store, stream_of
from llmrelay.service.execution import (  # bench/relay_launcher.py patches it by this name
    _EventLogSink as _EventLogSink,
)
from llmrelay.service.health import HealthReport, HealthService
from llmrelay.service.principals import Principal
from llmrelay.service.relay import Relay
from llmrelay.service.usage import ENDPOINTS, GROUPS, INTERVALS, UsageService
from llmrelay.store import (
    ApiKey,
    User,
)
from llmrelay.transport.client import REQUEST_ID_HEADERS

__all__ = [
    "CONNECTOR_TYPE",
    "ENDPOINTS",
    "GATEWAY_SOURCE",
    "GROUPS",
    "INTERVALS",
    "REQUEST_ID_HEADERS",
    "AccessService",
    "ApiKey",
    "ChunkIterator",
    "ConnectorService",
    "ConnectorView",
    "ExecutionContext",
    "ExecutionResult",
    "ExecutionService",
    "FirstStart",
    "GatewayResult",
    "HealthReport",
    "HealthService",
    "Principal",
    "Relay",
    "Stream",
    "TappedStream",
    "UsageService",
    "User",
    "api_key_json",
    "ensure_admin",
    "ensure_encryption_key",
    "first_start",
    "framework_error_message",
    "load_preconfigured",
    "open_access",
    "prepare_home",
    "response_error_message",
    "run_without_store",
    "stream_of",
    "user_json",
]
