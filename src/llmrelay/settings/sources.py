"""Where settings come from: a kibana.yml-style file, the environment, CLI overrides.

Each source is flattened to ``{dotted kibana.yml name: value}`` so dotted, nested and mixed
spellings compare equal and a setting given twice in one source is caught. Unknown keys
under our strict namespaces are typos (errors); other products' keys only warn.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from llmrelay.errors import ConfigurationError

logger = logging.getLogger("llmrelay.settings")

ENV_PREFIX = "LLMRELAY__"
_Kind = Literal["str", "list", "map", "scalar"]

# Every setting a file, an environment variable or an override may give, by its dotted
# kibana.yml name, with how an environment value is read (see docs/settings.md).
SETTINGS: dict[str, _Kind] = {
    "xpack.actions.allowedHosts": "list",
    "xpack.actions.enabledActionTypes": "list",
    "xpack.actions.preconfigured": "map",
    "xpack.actions.proxyUrl": "str",
    "xpack.actions.proxyHeaders": "map",
    "xpack.actions.proxyBypassHosts": "list",
    "xpack.actions.proxyOnlyHosts": "list",
    "xpack.actions.ssl.verificationMode": "str",
    "xpack.actions.ssl.proxyVerificationMode": "str",
    "xpack.actions.customHostSettings": "list",
    "xpack.actions.maxResponseContentLength": "scalar",
    "xpack.actions.responseTimeout": "scalar",
    "xpack.actions.denyPrivateNetworks": "scalar",
    "xpack.encryptedSavedObjects.encryptionKey": "str",
    "llmrelay.defaultModel": "str",
    "llmrelay.defaultTimeout": "scalar",
    "llmrelay.databaseUrl": "str",
    "llmrelay.eventLog.retention": "scalar",
    "llmrelay.eventLog.durability": "str",
    "llmrelay.connectorCache.revalidateAfter": "scalar",
    "llmrelay.limits.onStoreOutage": "str",
    "llmrelay.prices": "map",
    "server.host": "str",
    "server.port": "scalar",
    "server.uuid": "str",
}
_NAMESPACES = frozenset(
    ".".join(key.split(".")[:i]) for key in SETTINGS for i in range(1, key.count(".") + 1)
)
_BY_FOLDED = {name.lower(): name for name in (*SETTINGS, *_NAMESPACES)}
# Namespaces where an unknown key is a typo (error) rather than another product's setting.
_STRICT = ("xpack.actions.", "llmrelay.")
# Real Kibana xpack.actions settings we do not implement: accepted with a warning so a
# kibana.yml ports over unchanged.
_KIBANA_ONLY = (
    "xpack.actions.run.",
    "xpack.actions.queued.",
    "xpack.actions.enableFooterInEmail",
    "xpack.actions.email.",
    "xpack.actions.microsoftGraphApiUrl",
    "xpack.actions.microsoftGraphApiScope",
    "xpack.actions.microsoftExchangeUrl",
    "xpack.actions.preconfiguredAlertHistoryEsIndex",
    "xpack.actions.webhook.",
)
_SHORT_ENV = {
    "LLMRELAY_DATABASE_URL": "llmrelay.databaseUrl",
    "LLMRELAY_ENCRYPTION_KEY": "xpack.encryptedSavedObjects.encryptionKey",
    "LLMRELAY_HOST": "server.host",
    "LLMRELAY_PORT": "server.port",
}
# Settings fields that have a dotted name, for overrides such as {"port": 8080}.
FIELD_KEYS = {
    "database_url": "llmrelay.databaseUrl",
    "host": "server.host",
    "port": "server.port",
    "encryption_key": "xpack.encryptedSavedObjects.encryptionKey",
    "server_uuid": "server.uuid",
    "event_log_retention": "llmrelay.eventLog.retention",
    "event_log_durability": "llmrelay.eventLog.durability",
    "connector_revalidate_after": "llmrelay.connectorCache.revalidateAfter",
    "limits_on_store_outage": "llmrelay.limits.onStoreOutage",
    "prices": "llmrelay.prices",
}

# Our knobs that live in ``ActionsSettings`` next to Kibana's, by field name.
OURS_IN_ACTIONS = {
    "defaultModel": "llmrelay.defaultModel",
    "defaultTimeoutMs": "llmrelay.defaultTimeout",
}
# Settings fields set directly (not through a dotted name) when given as overrides.
DIRECT_FIELDS = ("home", "admin_password", "version")
# ... and the environment variables that give them (LLMRELAY_CONFIG names the file).
DIRECT_ENV = {"home": "LLMRELAY_HOME", "admin_password": "LLMRELAY_ADMIN_PASSWORD"}


@dataclass(frozen=True, slots=True)
class Given:
    """A value and where it came from (for error messages)."""

    value: object
    source: str


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key repeated in one mapping, as kibana.yml's does."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def from_file(path: Path) -> dict[str, Given]:
    source = f"settings file {path}"
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"cannot read settings file {path}: {reason}") from None
    try:
        tree = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # the problem only: the error's own text quotes the offending line (maybe a secret)
        raise ConfigurationError(f"{source}: invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError:
        raise ConfigurationError(f"{source}: invalid YAML") from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise ConfigurationError(f"{source}: expected a mapping of settings at the top level")
    out: dict[str, Given] = {}
    _flatten(tree, "", source, out)
    return out


def from_environment(env: Mapping[str, str]) -> dict[str, Given]:
    out: dict[str, Given] = {}
    for var, key in _SHORT_ENV.items():
        if env.get(var):
            _record(out, key, _env_value(key, var, env[var]), f"environment variable {var}")
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or not env[var]:
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        if not all(parts):
            raise ConfigurationError(f"environment variable {var}: empty name segment")
        key = _BY_FOLDED.get(".".join(parts).lower(), ".".join(parts))
        value = _env_value(key, var, env[var])
        _flatten({key: value}, "", f"environment variable {var}", out)
    return out


def from_overrides(given: Mapping[str, object]) -> dict[str, Given]:
    out: dict[str, Given] = {}
    for name, value in given.items():
        if value is None or name in DIRECT_FIELDS:
            continue
        key = FIELD_KEYS.get(name, name)
        if key not in SETTINGS and key not in _NAMESPACES and not key.startswith(_STRICT):
            raise ConfigurationError(f"unknown setting override {name!r}")
        _flatten({key: value}, "", f"override {name}", out)
    return out


def _env_value(key: str, var: str, raw: str) -> object:
    """JSON for lists, maps and numbers; strings verbatim; lists also as ``a,b,c``."""
    kind = SETTINGS.get(key, "map" if key in _NAMESPACES else "scalar")
    if kind == "str":
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if kind == "list" and not raw.lstrip().startswith("["):
            return [item.strip() for item in raw.split(",") if item.strip()]
        if kind == "scalar":
            return raw
        # never quote the value: maps hold secrets (preconfigured, proxyHeaders)
        raise ConfigurationError(
            f"{key}: environment variable {var} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None


def _flatten(tree: Mapping[Any, Any], prefix: str, source: str, out: dict[str, Given]) -> None:
    """Turn dotted, nested or mixed spellings into ``{dotted name: value}``."""
    for raw_key, value in tree.items():
        if not isinstance(raw_key, str) or not all(raw_key.split(".")):
            raise ConfigurationError(
                f"{prefix or '<top level>'}: invalid key {raw_key!r} ({source})"
            )
        key = f"{prefix}.{raw_key}" if prefix else raw_key
        if key in SETTINGS:
            _record(out, key, value, source)
        elif key in _NAMESPACES:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{key}: expected a mapping of settings ({source})")
            _flatten(value, key, source, out)
        elif isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            _flatten(value, key, source, out)  # judge (and name) each leaf: a.b.c, not a
        else:
            _unknown(key, source)


def _record(out: dict[str, Given], key: str, value: object, source: str) -> None:
    if key in out:
        raise ConfigurationError(
            f"{key}: set more than once ({out[key].source}; {source}); "
            "give each setting once, dotted or nested"
        )
    if key == "xpack.actions.customHostSettings" and isinstance(value, list):
        value = [_expand(entry, f"{key}[{i}]") for i, entry in enumerate(value)]
    out[key] = Given(value, source)


def _expand(entry: object, where: str) -> object:
    """Expand dotted keys inside a customHostSettings entry (``ssl.verificationMode``)."""
    if not isinstance(entry, Mapping):
        return entry
    result: dict[str, Any] = {}
    for raw_key, value in entry.items():
        top, *rest = str(raw_key).split(".")
        nested: object = _expand(value, f"{where}.{raw_key}")
        for part in reversed(rest):
            nested = {part: nested}
        _merge(result, top, nested, f"{where}.{raw_key}")
    return result


def _merge(into: dict[str, Any], key: str, value: object, where: str) -> None:
    if key not in into:
        into[key] = value
    elif isinstance(into[key], dict) and isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _merge(into[key], sub_key, sub_value, where)
    else:
        raise ConfigurationError(f"{where}: set more than once")


def _unknown(key: str, source: str) -> None:
    if key.startswith(_KIBANA_ONLY):
        logger.warning("%s is a Kibana setting llmrelay does not use; ignored (%s)", key, source)
        return
    if not key.startswith(_STRICT):
        logger.warning("%s is not a setting of llmrelay; ignored (%s)", key, source)
        return
    if key == "llmrelay.home":
        raise ConfigurationError(
            f"llmrelay.home: the data directory is set by LLMRELAY_HOME or --home only ({source})"
        )
    close = difflib.get_close_matches(key, list(SETTINGS), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigurationError(f"{key}: unknown setting ({source}){hint}")
