"""Spaces: which exist (created on purpose, or named by a connector or grant), and creating
one. The API keeps Kibana's implicit spaces; the UI's space picker asks here first."""

from __future__ import annotations

from llmrelay.domain.naming import space_id_problem
from llmrelay.errors import BadRequestError
from llmrelay.store.spaces import SpaceRepository

DEFAULT_SPACE = "default"


class SpaceService:
    def __init__(self, spaces: SpaceRepository) -> None:
        self._spaces = spaces

    async def exists(self, space_id: str) -> bool:
        return space_id == DEFAULT_SPACE or await self._spaces.exists(space_id)

    async def create(self, space_id: str) -> bool:
        """Create ``space_id`` (False: it existed); a malformed id is a 400."""
        problem = space_id_problem(space_id)
        if problem:
            raise BadRequestError(f"[space]: {problem}")
        return await self._spaces.create(space_id)

    async def list(self) -> list[str]:
        return sorted({DEFAULT_SPACE, *await self._spaces.list()})
