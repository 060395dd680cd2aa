"""Shared schema plumbing: one strict model base, number coercion and one issue format.

Every validation failure in the domain is rendered the same way: ``[field.path]: reason``
per issue, several issues joined with ``\\n- `` (Kibana's list style). Issue texts follow
zod's wording (Kibana's newer schema library) and never contain the rejected value, so a
secret can never leak through an error message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_SAFE_INTEGER = 2**53


def json_type(value: object) -> str:
    """The JSON-ish type name of ``value`` (``received ...`` in messages), never the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def coerce_number(value: object) -> int | float:
    """zod's ``z.coerce.number()`` for JSON input: numeric strings become numbers.

    Integral values read from strings become ``int`` so ``"128000"`` stores as ``128000``.
    Booleans, blank strings and non-finite values are refused rather than turned into 0/1.
    """
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Expected number, received boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("number_type", "Expected a finite number")
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
        if not math.isfinite(number):
            raise PydanticCustomError("number_type", "Expected a finite number")
        if number.is_integer() and abs(number) < _MAX_SAFE_INTEGER:
            return int(number)
        return number
    raise PydanticCustomError(
        "number_type", "Expected number, received {received}", {"received": json_type(value)}
    )


Number = Annotated[int | float, BeforeValidator(coerce_number)]
"""A JSON number, also accepted as a numeric string (newer Kibana coerces these)."""


class StrictModel(BaseModel):
    """Base of every schema: unknown keys rejected, no type juggling, null only where allowed.

    zod's ``.optional()`` accepts a missing key but not ``null``; ``_nullable`` names the
    few fields (``stop``, ``response_format``, ...) that really accept ``null``.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)
    _nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _reject_null(cls, value: object, info: Any) -> object:
        if value is None and info.field_name not in cls._nullable:
            field = cls.model_fields.get(info.field_name)
            expected = _type_word(field.annotation if field else None)
            raise PydanticCustomError(
                "null_type", "Expected {expected}, received null", {"expected": expected}
            )
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The JSON Schema (OpenAPI document) says what validation does: an optional field
        may be left out but is not ``null`` unless ``_nullable`` names it."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            prop.pop("title", None)
            if name in cls._nullable:
                continue
            branches = prop.get("anyOf")
            if isinstance(branches, list) and _NULL in branches:
                kept = [branch for branch in branches if branch != _NULL]
                del prop["anyOf"]
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
            if "default" in prop and prop["default"] is None:
                del prop["default"]
        return schema


_NULL = {"type": "null"}


def _type_word(annotation: object) -> str:
    """``str | None`` -> ``string``: the JSON type a field expects, for null messages."""
    return " or ".join(dict.fromkeys(_type_words(annotation))) or "value"


def _type_words(annotation: object) -> list[str]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type_words(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [w for arg in get_args(annotation) for w in _type_words(arg)]
    target = origin or annotation
    if target is type(None):
        return []
    if target in (str, bool, int, float):
        return [{str: "string", bool: "boolean", int: "number", float: "number"}[target]]
    if target in (list, tuple):
        return ["array"]
    if target is dict or (isinstance(target, type) and issubclass(target, BaseModel)):
        return ["object"]
    return ["value"]


class Passthrough(StrictModel):
    """A strict model that keeps unknown keys (zod ``.passthrough()``)."""

    model_config = ConfigDict(extra="allow")


class Stripping(StrictModel):
    """A model that drops unknown keys (zod's default object behaviour)."""

    model_config = ConfigDict(extra="ignore")


_TYPE_WORDS = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "number",
    "float_type": "number",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}


def _path(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def issue(path: str, reason: str) -> str:
    """One issue line; root-level issues carry no ``[path]``."""
    return f"[{path}]: {reason}" if path else reason


def issues_from(error: ValidationError, *, prefix: str = "") -> list[str]:
    """Render pydantic's errors as issue lines, unknown keys grouped per object like zod."""
    entries: list[tuple[bool, str]] = []  # (is_unknown_keys_group, path or finished line)
    unknown: dict[str, list[str]] = {}
    for err in error.errors(include_url=False, include_input=True):
        loc = (prefix, *err["loc"]) if prefix else tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = _path(loc[:-1])
            if parent not in unknown:
                unknown[parent] = []
                entries.append((True, parent))
            unknown[parent].append(str(loc[-1]))
            continue
        if kind == "missing":
            reason = "Required"
        elif kind in _TYPE_WORDS:
            reason = f"Expected {_TYPE_WORDS[kind]}, received {json_type(err.get('input'))}"
        else:
            reason = err["msg"]
        entries.append((False, issue(_path(loc), reason)))
    rendered: list[str] = []
    for is_group, text in entries:
        if is_group:
            keys = ", ".join(f'"{key}"' for key in unknown[text])
            rendered.append(issue(text, f"Unrecognized keys: {keys}"))
        else:
            rendered.append(text)
    return list(dict.fromkeys(rendered))


def join_issues(lines: list[str]) -> str:
    """Kibana's list style: the first issue, then ``\\n- `` before each further one."""
    return "\n- ".join(lines)


def blank_string_issues(value: object, *, prefix: str = "") -> list[str]:
    """Issues for every empty or whitespace-only string inside ``value`` (Kibana's route rule).

    Iterative so that absurdly deep input cannot exhaust the stack.
    """
    found: list[str] = []
    stack: list[tuple[str, object]] = [(prefix, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not item.strip():
                found.append(issue(path, "must not be empty or whitespace only"))
        elif isinstance(item, Mapping):
            children = [(_join(path, str(key)), child) for key, child in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(_join(path, str(i)), c) for i, c in enumerate(item)]))
    return found


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def short_repr(value: object, limit: int = 80) -> str:
    """A JSON-looking, length-capped rendering of a non-secret value for messages."""
    text = f'"{value}"' if isinstance(value, str) else json_type(value)
    return text if len(text) <= limit else text[: limit - 4] + '..."'
