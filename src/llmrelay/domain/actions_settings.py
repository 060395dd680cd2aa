"""Kibana's ``xpack.actions.*`` settings as plain, frozen data.

Field names are Kibana's, so a ``kibana.yml`` fragment maps one to one. The service's
settings loader (files, environment) builds this object; lower layers only read it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from llmrelay.domain.durations import parse_duration

VerificationMode = Literal["full", "certificate", "none"]

DEFAULT_OPENAI_MODEL = "gpt-4.1"
DEFAULT_TIMEOUT_MS = 200_000  # Kibana's DEFAULT_TIMEOUT_MS for run/test (newer versions)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)


def parse_byte_size(value: object) -> int:
    """``1mb`` / ``512kb`` / ``1048576`` -> bytes (Kibana's ByteSizeValue, base 1024)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):  # never echo a non-text value (None, a list...)
        raise ValueError("expected a byte size such as 1mb")
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f'invalid byte size "{value}"; use a number of bytes or e.g. 1mb')
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    return int(number * {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}[unit])


def parse_duration_ms(value: object) -> int:
    """``60s`` / ``5m`` / ``1500ms`` / ``60000`` (milliseconds) -> milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):  # never echo a non-text value (None, a list...)
        raise ValueError("expected a duration such as 60s")
    duration = parse_duration(value, units=("ms", "s", "m", "h"), default_unit="ms")
    if duration is None:
        raise ValueError(f'invalid duration "{value}"; use e.g. 60s, 5m or 1500ms')
    return duration.as_milliseconds()


ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SslSettings(_Frozen):
    verificationMode: VerificationMode = "full"
    proxyVerificationMode: VerificationMode = "full"


class CustomHostSsl(_Frozen):
    verificationMode: VerificationMode | None = None
    certificateAuthoritiesFiles: str | list[str] | None = None
    certificateAuthoritiesData: str | None = None


class CustomHostSetting(_Frozen):
    """Per-origin TLS overrides; ``url`` is an origin such as ``https://host:443``."""

    url: str
    ssl: CustomHostSsl | None = None
    smtp: dict[str, object] | None = None  # accepted for kibana.yml compatibility, unused


class ActionsSettings(_Frozen):
    """``xpack.actions.*`` plus the few knobs of our own (documented in docs/settings.md)."""

    allowedHosts: tuple[str, ...] = ("*",)
    enabledActionTypes: tuple[str, ...] = ("*",)
    proxyUrl: str | None = None
    proxyHeaders: dict[str, str] | None = None
    proxyBypassHosts: tuple[str, ...] | None = None
    proxyOnlyHosts: tuple[str, ...] | None = None
    ssl: SslSettings = Field(default_factory=SslSettings)
    customHostSettings: tuple[CustomHostSetting, ...] = ()
    maxResponseContentLength: ByteSize = 1024 * 1024
    responseTimeout: DurationMs = 60_000
    # refuse private and loopback targets too (link-local and metadata ones always are)
    denyPrivateNetworks: bool = False
    # ours: the model filled into OpenAI connectors that name none, and run/test's timeout
    defaultModel: str = DEFAULT_OPENAI_MODEL
    defaultTimeoutMs: DurationMs = DEFAULT_TIMEOUT_MS  # llmrelay.defaultTimeout

    def host_allowed(self, hostname: str) -> bool:
        """Exact hostname match (case-insensitive) or ``*``; no wildcard subdomains."""
        if "*" in self.allowedHosts:
            return True
        host = hostname.lower().rstrip(".")
        return any(host == allowed.lower().rstrip(".") for allowed in self.allowedHosts)

    def action_type_enabled(self, type_id: str) -> bool:
        return "*" in self.enabledActionTypes or type_id in self.enabledActionTypes
