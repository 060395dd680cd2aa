"""Connector ids and names: the one set of rules for the actions API, ``kibana.yml``'s
``xpack.actions.preconfigured`` and ``Connector.from_kibana``.

Each check returns the reason (the text after ``[id]: `` / ``[name]: ``) or None, so
each caller words the error in its own frame: the API's 400, a settings error naming the
dotted key, a connector validation error.
"""

from __future__ import annotations

from typing import Final

MAX_ID_LENGTH: Final = 255
# Kibana refuses these as preconfigured ids: they would shadow JavaScript object members
RESERVED_PRECONFIGURED_IDS: Final = frozenset({"__proto__", "constructor"})

ID_REQUIRED: Final = "must be a non-empty string"
ID_SHAPE: Final = f"must be 1-{MAX_ID_LENGTH} characters without control characters or slashes"
ID_RESERVED: Final = "must not be __proto__ or constructor"
NAME_REQUIRED: Final = "Required"
NAME_EMPTY: Final = "must be a non-empty string"
NAME_CONTROL: Final = "must not contain control characters"


def has_control_characters(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def connector_id_problem(connector_id: object) -> str | None:
    """Why ``connector_id`` cannot name a connector, or None when it can."""
    if not isinstance(connector_id, str) or not connector_id.strip():
        return ID_REQUIRED
    if (
        len(connector_id) > MAX_ID_LENGTH
        or "/" in connector_id
        or has_control_characters(connector_id)
    ):
        return ID_SHAPE
    return None


def preconfigured_id_problem(connector_id: object) -> str | None:
    """The rules of :func:`connector_id_problem`, and Kibana's reserved preconfigured ids."""
    problem = connector_id_problem(connector_id)
    if problem is None and connector_id in RESERVED_PRECONFIGURED_IDS:
        return ID_RESERVED
    return problem


def connector_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a connector's name, or None when it can."""
    if name is None:
        return NAME_REQUIRED
    if not isinstance(name, str) or not name.strip():
        return NAME_EMPTY
    if has_control_characters(name):
        return NAME_CONTROL
    return None


# Kibana's space ids: lower-case letters, digits, "_" and "-" (the UI's space picker)
SPACE_ID_SHAPE: Final = "must be 1-64 lower-case letters, digits, _ or -"
_SPACE_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def space_id_problem(space_id: str) -> str | None:
    """Why ``space_id`` cannot name a space, or None when it can."""
    if not 1 <= len(space_id) <= 64 or not set(space_id) <= _SPACE_ID_CHARS:
        return SPACE_ID_SHAPE
    return None
