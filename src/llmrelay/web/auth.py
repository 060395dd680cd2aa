"""Kibana's 403 messages for the actions API (who may do what: ``service/access.py``)."""

from __future__ import annotations


def unauthorized(operation: str, type_id: str | None = None) -> str:
    """Kibana's 403 message for the actions API, which clients match on:
    ``Unauthorized to create a ".gen-ai" action`` / ``Unauthorized to get actions``."""
    target = f'a "{type_id}" action' if type_id else "actions"
    return f"Unauthorized to {operation} {target}"
