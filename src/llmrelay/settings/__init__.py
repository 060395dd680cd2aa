"""Service settings: kibana.yml-style file, environment, CLI overrides -> one frozen object.

Read once by the web app or the CLI at start-up (``load_settings``), never at import
time; lower layers receive plain values (``Settings.actions`` is the ``ActionsSettings``
the transport and executor already take). ``Settings`` is a pydantic-settings
``BaseSettings`` whose sources are the layers in ``llmrelay.settings.layers``. Nothing here
is global, so two differently configured ``Settings`` live side by side. Every problem
becomes one ``ConfigurationError`` naming the setting by its dotted Kibana name and never
quoting a secret value.
"""

from __future__ import annotations

import importlib.metadata
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from llmrelay.domain.actions_settings import ActionsSettings, parse_duration_ms
from llmrelay.domain.durations import parse_duration
from llmrelay.domain.naming import connector_name_problem, preconfigured_id_problem
from llmrelay.domain.prices import DEFAULT_PRICES, Price, merge_prices
from llmrelay.errors import ConfigurationError
from llmrelay.settings.layers import EnvironmentLayer, FileLayer, Layer, OverrideLayer
from llmrelay.settings.sources import FIELD_KEYS, OURS_IN_ACTIONS, Given

__all__ = [
    "DEFAULT_HOME",
    "PreconfiguredConnector",
    "Settings",
    "load_settings",
    "package_version",
]

DEFAULT_HOME = ".llmrelay"
DEFAULT_EVENT_LOG_RETENTION = timedelta(days=90)  # Kibana's event log ILM policy
DEFAULT_CONNECTOR_REVALIDATE_AFTER = timedelta(seconds=1)
MIN_ENCRYPTION_KEY_LENGTH = 32

_FIELD_NAMES = {
    **FIELD_KEYS,
    "home": "LLMRELAY_HOME",
    "admin_password": "LLMRELAY_ADMIN_PASSWORD",
    "preconfigured": "xpack.actions.preconfigured",
}


@cache
def package_version() -> str:
    """pyproject.toml's version, as installed (``llmrelay.__version__``); a bare source
    tree has none."""
    try:
        return importlib.metadata.version("llmrelay")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PreconfiguredConnector(_Frozen):
    """One ``xpack.actions.preconfigured`` entry; its secrets never leave memory."""

    name: str
    actionTypeId: str
    config: dict[str, object] = Field(default_factory=dict)
    secrets: dict[str, object] = Field(default_factory=dict, repr=False)
    exposeConfig: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = connector_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("actionTypeId")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Settings(BaseSettings):
    """Everything the service is configured with; built by ``load_settings``.

    ``Settings(**overrides)`` alone reads no file and no environment: only ``load_settings``
    adds those layers.
    """

    # case_sensitive: ``Settings(Port=1)`` is an unknown override, as in ``load_settings``
    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True)

    home: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = Field(default=5601, ge=0, le=65535)
    encryption_key: str | None = Field(default=None, repr=False)
    admin_password: str | None = Field(default=None, repr=False)
    actions: ActionsSettings = Field(default_factory=ActionsSettings)
    preconfigured: dict[str, PreconfiguredConnector] = Field(default_factory=dict)
    server_uuid: str
    version: str = Field(default_factory=package_version)
    event_log_retention: timedelta = DEFAULT_EVENT_LOG_RETENTION
    event_log_durability: Literal["answer", "async"] = "answer"
    connector_revalidate_after: timedelta = DEFAULT_CONNECTOR_REVALIDATE_AFTER
    # what limits do while their counters cannot be reached (docs/limits.md)
    limits_on_store_outage: Literal["open", "closed"] = "open"
    # the price table: the shipped defaults with ``llmrelay.prices`` applied (lower-case names)
    prices: Mapping[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides > environment > file; built in file-first order, as errors are reported."""
        loading = _LOADING.get()
        if loading is None:  # Settings(**overrides)
            given = (
                init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
            )
            return (OverrideLayer(settings_cls, given),)
        loading.layers = [
            FileLayer(settings_cls, loading.config_file),
            EnvironmentLayer(settings_cls, loading.environ),
            OverrideLayer(settings_cls, loading.overrides),
        ]
        return tuple(reversed(loading.layers))

    @model_validator(mode="before")
    @classmethod
    def _data_directory(cls, data: Any) -> Any:
        """Resolve the data directory and the defaults that live in it."""
        if not isinstance(data, dict):
            return data
        home = Path(str(data.get("home") or DEFAULT_HOME)).expanduser().absolute()
        data = {**data, "home": home}
        data.setdefault("database_url", f"sqlite+aiosqlite:///{home / 'llmrelay.db'}")
        if "server_uuid" not in data:
            data["server_uuid"] = _stored_uuid(home) or str(uuid.uuid4())
        return data

    @field_validator("event_log_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> timedelta:
        return _retention_duration(value)

    @field_validator("connector_revalidate_after", mode="before")
    @classmethod
    def _revalidate_after(cls, value: object) -> timedelta:
        if isinstance(value, timedelta):
            return value
        millis = parse_duration_ms(value)
        if millis < 0:
            raise ValueError("must not be negative")
        return timedelta(milliseconds=millis)

    @field_validator("prices", mode="before")
    @classmethod
    def _prices(cls, value: object) -> object:
        """Merge ``llmrelay.prices`` over the defaults; a bad entry raises the
        :class:`ConfigurationError` naming it (``llmrelay.prices.<model>.<field>``)."""
        if value is None:
            return dict(DEFAULT_PRICES)
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of model names to prices")
        if value and all(isinstance(price, Price) for price in value.values()):
            return value  # already a table (a copy of another Settings)
        return merge_prices(value)

    @field_validator("encryption_key")
    @classmethod
    def _key_length(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_ENCRYPTION_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_ENCRYPTION_KEY_LENGTH} characters long")
        return value

    @field_validator("host", "database_url")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("preconfigured", mode="before")
    @classmethod
    def _connector_ids(cls, value: object) -> object:
        if isinstance(value, Mapping):
            for connector_id in value:
                problem = preconfigured_id_problem(connector_id)
                if problem is not None:
                    raise ValueError(
                        f"invalid preconfigured connector id [{connector_id}]: {problem}"
                    )
        return value

    @field_validator("server_uuid")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("must be a UUID") from None

    @property
    def spool_path(self) -> Path:
        """Where the event writer spills events while the store is unavailable."""
        return self.home / "spool" / "events.jsonl"

    @property
    def journal_dir(self) -> Path:
        """Where each process journals ``execute`` documents before their answer."""
        return self.home / "journal"

    def ensure_home(self) -> None:
        """Create the data directory and persist ``server_uuid`` so restarts keep it.

        Called by the web app or CLI at start-up; ``load_settings`` itself writes nothing.
        """
        uuid_file = self.home / "uuid"
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            if uuid_file.exists() and uuid_file.read_text("utf-8").strip() == self.server_uuid:
                return
            tmp = uuid_file.with_name("uuid.tmp")
            tmp.write_text(self.server_uuid + "\n", "utf-8")
            os.replace(tmp, uuid_file)
        except OSError as exc:
            raise ConfigurationError(
                f"LLMRELAY_HOME: cannot write the data directory {self.home}: {exc.strerror}"
            ) from None


@dataclass
class _Loading:
    """One ``load_settings`` call: what its layers read, and the layers once built."""

    config_file: Path | None
    environ: Mapping[str, str]
    # not init kwargs: BaseSettings takes its own options (_env_file...) from those
    overrides: Mapping[str, object]
    layers: list[Layer] = field(default_factory=list)

    def provenance(self) -> dict[str, Given]:
        merged: dict[str, Given] = {}
        for layer in self.layers:  # lowest first, so a higher layer's source wins
            merged.update(layer.given)
        return merged


# pydantic-settings builds sources in a classmethod with no per-call arguments; this carries
# one call's layers there (per thread and task, so nothing is shared).
_LOADING: ContextVar[_Loading | None] = ContextVar("llmrelay_settings_loading", default=None)


@contextmanager
def _loading(request: _Loading) -> Iterator[None]:
    token = _LOADING.set(request)
    try:
        yield
    finally:
        _LOADING.reset(token)


def load_settings(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Build ``Settings``: overrides (CLI flags) > environment > file > defaults.

    ``environ`` defaults to ``os.environ`` (read now, not at import). ``overrides`` keys
    are ``Settings`` field names (``port``, ``home``...) or dotted kibana.yml names; a
    ``None`` value means "not given". ``config_file`` defaults to ``$LLMRELAY_CONFIG``.
    """
    env = dict(os.environ if environ is None else environ)
    if config_file is None and env.get("LLMRELAY_CONFIG"):
        config_file = Path(env["LLMRELAY_CONFIG"])
    request = _Loading(config_file, env, dict(overrides or {}))
    try:
        with _loading(request):
            return Settings()
    except ValidationError as exc:
        raise _explain(exc, request.provenance()) from None


# --- values ---------------------------------------------------------------------


def _retention_duration(value: object) -> timedelta:
    """``90d`` / ``12w`` / ``36h``...; ``0`` keeps events forever (``timedelta(0)``)."""
    if isinstance(value, timedelta):
        return value
    if value == 0 or value == "0":
        return timedelta(0)
    duration = parse_duration(value) if isinstance(value, str) else None
    if duration is None:
        raise ValueError("invalid duration; use e.g. 90d, 12w or 720h (0 keeps events forever)")
    retention = duration.as_timedelta()
    if timedelta(0) < retention < timedelta(hours=1):
        raise ValueError("must be at least 1h (or 0 to keep events forever)")
    return retention


# --- the data directory and messages ------------------------------------------------


def _stored_uuid(home: Path) -> str | None:
    try:
        text = (home / "uuid").read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise ConfigurationError(f"server.uuid: cannot read {home / 'uuid'}") from None
    return text or None


def _explain(exc: ValidationError, merged: Mapping[str, Given]) -> ConfigurationError:
    """One message naming each bad setting by its dotted name; inputs are never quoted."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        key = _dotted(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        source = next(
            (merged[k].source for k in sorted(merged, key=len, reverse=True) if _under(key, k)),
            None,
        )
        lines.append(f"{key}: {message}" + (f" ({source})" if source else ""))
    return ConfigurationError("; ".join(lines))


def _dotted(loc: tuple[int | str, ...]) -> str:
    head, *rest = loc
    if head == "actions" and rest and rest[0] in OURS_IN_ACTIONS:
        return OURS_IN_ACTIONS[str(rest[0])]
    base = "xpack.actions" if head == "actions" else _FIELD_NAMES.get(str(head), str(head))
    for part in rest:
        base += f"[{part}]" if isinstance(part, int) else f".{part}"
    return base


def _under(key: str, setting: str) -> bool:
    return key == setting or key.startswith((setting + ".", setting + "["))
