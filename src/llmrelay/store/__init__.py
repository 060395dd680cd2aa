"""Persistence: connectors (secrets encrypted), users and API keys, the event log.

The only package that touches the database driver. It may import ``llmrelay.domain`` and
``llmrelay.errors``, nothing above.
"""

from llmrelay.domain.access import ROLES, Grant
from llmrelay.store.connectors import ConnectorRepository, StoredConnector
from llmrelay.store.db import Store, create_engine, default_url, open_store
from llmrelay.store.events import EventRepository
from llmrelay.store.users import (
    ApiKey,
    User,
    UserRepository,
)

__all__ = [
    "ROLES",
    "ApiKey",
    "ConnectorRepository",
    "EventRepository",
    "Grant",
    "Store",
    "StoredConnector",
    "User",
    "UserRepository",
    "create_engine",
    "default_url",
    "open_store",
]
