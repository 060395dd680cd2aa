"""The web UI: server-rendered pages over the same API everyone uses."""

from __future__ import annotations

from llmrelay.web.ui import admin_pages, pages, space_pages

# before pages.routes, which mounts /app with its space-scoped pages
routes = [*admin_pages.routes, *space_pages.routes, *pages.routes]

__all__ = ["routes"]
