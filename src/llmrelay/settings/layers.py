"""The settings layers as pydantic-settings sources: file < environment < overrides.

Each layer reads its source with ``llmrelay.settings.sources`` (flattened to dotted
kibana.yml names, which is what conflicts and error messages are about) and hands
pydantic-settings the values in the shape of the ``Settings`` fields; pydantic-settings
merges the layers, a higher one winning, and validates the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from llmrelay.settings.sources import (
    DIRECT_ENV,
    DIRECT_FIELDS,
    FIELD_KEYS,
    OURS_IN_ACTIONS,
    Given,
    from_environment,
    from_file,
    from_overrides,
)

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

_SECRET_FIELDS = frozenset({"encryption_key", "admin_password"})
_BY_DOTTED = {dotted: field for field, dotted in FIELD_KEYS.items()}
_OURS = {dotted: field for field, dotted in OURS_IN_ACTIONS.items()}


class Layer(PydanticBaseSettingsSource):
    """One layer: its settings by dotted name (kept for error messages) and direct fields."""

    def __init__(
        self, settings_cls: type[BaseSettings], given: dict[str, Given], direct: dict[str, object]
    ) -> None:
        super().__init__(settings_cls)
        self.given = given
        self._direct = direct

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds every field at once

    def __call__(self) -> dict[str, Any]:
        data = to_fields(self.given)
        data.update(self._direct)
        return {
            name: _Hidden(value) if name in _SECRET_FIELDS and isinstance(value, str) else value
            for name, value in data.items()
        }


class FileLayer(Layer):
    """The kibana.yml-style file.

    Not pydantic-settings' ``YamlConfigSettingsSource``: that one skips a missing file,
    lets a key repeat and quotes the offending line (maybe a secret) in its errors.
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls, from_file(path) if path is not None else {}, {})


class EnvironmentLayer(Layer):
    """``LLMRELAY_*`` variables from a given mapping (``os.environ`` is read by the caller).

    Not pydantic-settings' ``EnvSettingsSource``: that maps variables onto field paths, and
    ours name Kibana settings (``server.port`` is the field ``port``, ``llmrelay.*`` knobs
    live in ``actions``), each read by its kind, with short aliases that may not collide.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        direct: dict[str, object] = {
            field: environ[var] for field, var in DIRECT_ENV.items() if environ.get(var)
        }
        super().__init__(settings_cls, from_environment(environ), direct)


class OverrideLayer(Layer):
    """CLI flags, passed as ``Settings(**overrides)``: field or dotted names, ``None`` unset."""

    def __init__(self, settings_cls: type[BaseSettings], given: Mapping[str, object]) -> None:
        direct = {name: given[name] for name in DIRECT_FIELDS if given.get(name)}
        super().__init__(settings_cls, from_overrides(given), direct)


def to_fields(given: Mapping[str, Given]) -> dict[str, Any]:
    """Dotted names -> the nesting of the ``Settings`` fields (``actions`` holds our knobs)."""
    actions: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, item in given.items():
        # pydantic-settings merges dicts across layers; a setting's value is replaced whole
        value = _Whole(item.value) if isinstance(item.value, Mapping) else item.value
        if key == "xpack.actions.preconfigured":
            data["preconfigured"] = value
        elif key.startswith("xpack.actions."):
            *parents, leaf = key.removeprefix("xpack.actions.").split(".")
            node = actions
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        elif key in _OURS:
            actions[_OURS[key]] = value
        else:
            data[_BY_DOTTED[key]] = value
    if actions:
        data["actions"] = actions
    return data


class _Whole(Mapping[Any, Any]):
    """A mapping-valued setting: not a dict, so no layer merges into it.

    Its repr hides it: pydantic-settings' debug log (``PYDANTIC_SETTINGS_DEBUG``) prints
    each layer's values, and maps hold secrets (preconfigured, proxyHeaders).
    """

    def __init__(self, value: Mapping[Any, Any]) -> None:
        self._value = value

    def __getitem__(self, key: Any) -> Any:
        return self._value[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "{...}"


class _Hidden(str):
    """A secret on its way to validation (which makes it a plain ``str``), hidden from that log."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"
