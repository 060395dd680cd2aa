"""Optional database drivers: imported only when a URL needs them, with the extra to install.

``pip install llmrelay`` serves from SQLite (aiosqlite, a base dependency); PostgreSQL's
driver asyncpg comes with the ``postgres`` extra. Importing it on first use keeps every
module importable without it, and a ``postgresql://`` URL without it gets one line naming
the extra instead of a ``ModuleNotFoundError``.
"""

from __future__ import annotations

from typing import Any

from llmrelay.errors import ConfigurationError

POSTGRES_EXTRA = "pip install 'llmrelay[postgres]'"


def import_asyncpg() -> Any:
    """The asyncpg module (untyped, hence ``Any``), or :class:`ConfigurationError`."""
    try:
        import asyncpg  # type: ignore[import-untyped]  # no stubs
    except ImportError:
        raise ConfigurationError(
            "a PostgreSQL database URL (LLMRELAY_DATABASE_URL) needs the asyncpg driver, "
            f"which is not installed: {POSTGRES_EXTRA}"
        ) from None
    return asyncpg
