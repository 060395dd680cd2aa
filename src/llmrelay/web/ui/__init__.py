"""The web UI: server-rendered pages over the same API everyone uses."""

from __future__ import annotations

from llmrelay.web.ui.pages import routes

__all__ = ["routes"]
