"""Store fixtures: a real SQLite file per test, fast password hashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmrelay.store import Store, open_store
from llmrelay.store import users as users_module

KEY = "an-encryption-key-of-at-least-32-characters"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production scrypt costs ~0.5 s per hash; tests use a small N (format unchanged)."""
    monkeypatch.setattr(users_module, "PASSWORD_PARAMS", users_module.ScryptParams(n=2**10))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "llmrelay.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with await open_store(db_url, encryption_key=KEY) as opened:
        yield opened


def raw_bytes(db_path: Path) -> bytes:
    """The database file and its -wal / -shm companions, concatenated."""
    parts = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())
