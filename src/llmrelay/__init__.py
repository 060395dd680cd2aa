"""llmrelay: managed connectors to OpenAI, Azure OpenAI and OpenAI-compatible servers.

The library API needs no server::

    from llmrelay import Connector, Executor
    conn = Connector.from_kibana({...})
    async with Executor() as ex:
        result = await ex.execute(conn, "invokeAI", {"messages": [...]})
"""

from llmrelay.domain.actions_settings import ActionsSettings, CustomHostSetting, SslSettings
from llmrelay.domain.connectors import Connector, ConnectorSecrets
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.errors import (
    ConfigurationError,
    ConnectorValidationError,
    LlmrelayError,
    UpstreamError,
)
from llmrelay.execution.executor import EventSink, ExecutionFailedError, Executor
from llmrelay.execution.results import ExecutionContext, ExecutionResult

__version__ = "0.1.0"

__all__ = [
    "ActionsSettings",
    "ConfigurationError",
    "Connector",
    "ConnectorSecrets",
    "ConnectorValidationError",
    "CustomHostSetting",
    "EventSink",
    "ExecutionContext",
    "ExecutionFailedError",
    "ExecutionRecord",
    "ExecutionResult",
    "Executor",
    "LlmrelayError",
    "SslSettings",
    "TokenUsage",
    "UpstreamError",
    "__version__",
]
