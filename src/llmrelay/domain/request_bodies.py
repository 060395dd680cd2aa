"""The actions API's request bodies, checked as Kibana's router checks them.

Kibana validates a route's body with ``@kbn/config-schema`` before its handler runs, so
these messages are what a client of Kibana sees and may match on, e.g.
``[request body.name]: expected value of type [string] but got [undefined]``. The type
names are JavaScript's (``undefined``, ``null``, ``string``, ``number``, ``boolean``,
``Array``, ``Object``), never a Python value. Keys are checked in the schema's order, then
unknown keys; the first problem is reported. What the connector's config and secrets hold
is the connector type's business (``domain/connectors.py``), checked afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from llmrelay.domain.validation import json_type
from llmrelay.errors import RequestBodyError

__all__ = [
    "create_body",
    "execute_params",
    "js_type",
    "update_body",
]

_MISSING = object()
_CREATE_KEYS = ("name", "connector_type_id", "config", "secrets")
_UPDATE_KEYS = ("name", "config", "secrets")


def js_type(value: object) -> str:
    """The type name config-schema puts in ``but got [...]`` for a parsed JSON value."""
    if value is _MISSING:
        return "undefined"
    name = json_type(value)  # zod's lower-case names; config-schema capitalises two
    return {"array": "Array", "object": "Object"}.get(name, name)


def _where(key: str | None = None) -> str:
    return f"[request body.{key}]" if key else "[request body]"


def _object(body: object) -> Mapping[str, object]:
    if not isinstance(body, Mapping):
        raise RequestBodyError(
            f"{_where()}: expected a plain object value, but found [{js_type(body)}] instead."
        )
    return body


def _has_blank(value: object) -> bool:
    """Kibana's ``validateEmptyStrings``: an empty or whitespace-only string anywhere."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.strip():
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _blank(key: str) -> RequestBodyError:
    return RequestBodyError(f"{_where(key)}: value '' is not valid")


def _string(body: Mapping[str, object], key: str) -> str:
    value = body.get(key, _MISSING)
    if not isinstance(value, str):
        raise RequestBodyError(
            f"{_where(key)}: expected value of type [string] but got [{js_type(value)}]"
        )
    if not value.strip():
        raise _blank(key)
    return value


def _record(body: Mapping[str, object], key: str, *, blanks: bool = False) -> dict[str, object]:
    """``schema.recordOf(string, any)`` defaulting to ``{}``; values must not hold blank
    strings unless ``blanks``."""
    value = body.get(key, _MISSING)
    if value is _MISSING:
        return {}
    if not isinstance(value, Mapping):
        raise RequestBodyError(
            f"{_where(key)}: expected value of type [object] but got [{js_type(value)}]"
        )
    if not blanks:
        for entry, item in value.items():
            if _has_blank(item):
                raise _blank(f"{key}.{entry}")
    return dict(value)


def _no_unknown_keys(body: Mapping[str, object], known: Iterable[str]) -> None:
    allowed = frozenset(known)
    for key in body:
        if key not in allowed:
            raise RequestBodyError(f"{_where(str(key))}: definition for this key is missing")


def create_body(body: object) -> dict[str, object]:
    """``POST /api/actions/connector[/{id}]``: name, connector_type_id, config (default
    ``{}``), secrets (default ``{}``)."""
    checked = _object(body)
    valid: dict[str, object] = {
        "name": _string(checked, "name"),
        "connector_type_id": _string(checked, "connector_type_id"),
        "config": _record(checked, "config"),
        "secrets": _record(checked, "secrets"),
    }
    _no_unknown_keys(checked, _CREATE_KEYS)
    return valid


def update_body(body: object, *, keep_secrets: bool = False) -> dict[str, object]:
    """``PUT /api/actions/connector/{id}``: name, config, secrets (the type cannot change).

    With ``keep_secrets`` (llmrelay's edit form) an empty secret means "keep the stored
    one", so blank strings are allowed in ``secrets`` then.
    """
    checked = _object(body)
    valid: dict[str, object] = {
        "name": _string(checked, "name"),
        "config": _record(checked, "config"),
        "secrets": _record(checked, "secrets", blanks=keep_secrets),
    }
    _no_unknown_keys(checked, _UPDATE_KEYS)
    return valid


def execute_params(body: object) -> dict[str, object]:
    """``POST .../_execute``: ``{"params": {...}}``; returns ``params`` (hot path: a few
    type checks)."""
    if type(body) is dict and len(body) == 1:
        params = body.get("params", _MISSING)
        if type(params) is dict:
            return params
    checked = _object(body)
    params = checked.get("params", _MISSING)
    if not isinstance(params, Mapping):
        raise RequestBodyError(
            f"{_where('params')}: expected value of type [object] but got [{js_type(params)}]"
        )
    _no_unknown_keys(checked, ("params",))
    return dict(params)
