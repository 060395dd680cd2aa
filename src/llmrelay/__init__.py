"""llmrelay: managed connectors to OpenAI, Azure OpenAI and OpenAI-compatible servers.

The library API needs no server::

    from llmrelay import Connector, Executor
    conn = Connector.from_kibana({...})
    async with Executor() as ex:
        result = await ex.execute(conn, "invokeAI", {"messages": [...]})

and the whole service (stored connectors, encrypted secrets, event log) without HTTP::

    from llmrelay import ExecutionContext, Relay, load_settings
    async with Relay.open(load_settings()) as relay:
        view = await relay.connectors.create("default", {...})
        result = await relay.execute("default", view.id, {"subAction": "run", ...},
                                     ExecutionContext())

its services are ``relay.connectors``, ``relay.execution``, ``relay.usage``,
``relay.access`` (users, API keys) and ``relay.health``.
"""

from llmrelay.domain.actions_settings import ActionsSettings, CustomHostSetting, SslSettings
from llmrelay.domain.connectors import Connector, ConnectorSecrets
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.errors import (
    ConfigurationError,
    ConnectorValidationError,
    ExecutionFailedError,
    LlmrelayError,
    UpstreamError,
)
from llmrelay.execution.executor import EventSink, Executor
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.service import Relay
from llmrelay.settings import Settings, load_settings, package_version

__version__: str = package_version()

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
    "Relay",
    "Settings",
    "SslSettings",
    "TokenUsage",
    "UpstreamError",
    "__version__",
    "load_settings",
]
