"""First start: the data dir, an encryption key and an ``admin`` user, created once and told
once (by ``llmrelay serve`` before any worker starts, and by each app's start-up)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from llmrelay.errors import ConfigurationError
from llmrelay.service.access import AccessService, open_access
from llmrelay.settings import Settings

KEY_FILE = "encryption.key"
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a password
ADMIN_USER = "admin"


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What was created on this start (None = it already existed)."""

    key_file: Path | None = None
    admin_password: str | None = None
    admin_password_file: Path | None = None

    def message(self) -> str | None:
        """The one short block shown to the operator, or None when nothing was created."""
        lines: list[str] = []
        if self.key_file is not None:
            lines.append(f"  encryption key   generated into {self.key_file} (mode 0600)")
        if self.admin_password is not None:
            lines.append(f"  user             {ADMIN_USER}")
            if self.admin_password_file is not None:
                lines.append(f"  password         {self.admin_password}")
                lines.append(f"                   (also in {self.admin_password_file}, mode 0600)")
            else:
                lines.append("  password         from LLMRELAY_ADMIN_PASSWORD")
        if not lines:
            return None
        return "llmrelay first start\n" + "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def ensure_encryption_key(settings: Settings) -> tuple[Settings, Path | None]:
    """Use the configured key, else the one in the data dir, else generate it there."""
    if settings.encryption_key:
        return settings, None
    path = settings.home / KEY_FILE
    created: Path | None = None
    try:
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(48))
            created = path
        key = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigurationError(
            f"xpack.encryptedSavedObjects.encryptionKey: cannot read or create {path}: "
            f"{err.strerror}"
        ) from None
    if len(key) < 32:
        raise ConfigurationError(
            f"xpack.encryptedSavedObjects.encryptionKey: the key in {path} is shorter than "
            "32 characters"
        )
    return settings.model_copy(update={"encryption_key": key}), created


def prepare_home(settings: Settings) -> tuple[Settings, Path | None]:
    """The data dir, and the settings with their encryption key (see
    :func:`ensure_encryption_key`); the key file when it was created now."""
    settings.ensure_home()
    return ensure_encryption_key(settings)


async def ensure_admin(access: AccessService, settings: Settings) -> tuple[str | None, Path | None]:
    """Create ``admin`` when the store has no user at all; returns (password, file)."""
    if await access.has_users():
        return None, None
    password = settings.admin_password
    written: Path | None = None
    if not password:
        password = secrets.token_urlsafe(18)
        written = settings.home / ADMIN_PASSWORD_FILE
        if written.exists():
            written.unlink()
        _write_private(written, password)
    await access.create_user(ADMIN_USER, password, roles=["admin"], spaces=["*"])
    return password, written


async def first_start(settings: Settings) -> tuple[Settings, str | None]:
    """Data dir, encryption key, migrations and the admin user; returns the settings with
    their key and the notice for the operator (None when nothing was created)."""
    settings, key_file = prepare_home(settings)
    async with open_access(settings) as access:
        password, password_file = await ensure_admin(access, settings)
    return settings, FirstStart(key_file, password, password_file).message()
