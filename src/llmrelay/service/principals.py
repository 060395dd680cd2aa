"""An authenticated caller and what it may do in a space (roles: ``domain/access.py``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from llmrelay.domain.access import (
    PRIVILEGE_ROLE_HINT,
    PRIVILEGE_VERBS,
    Grant,
    Privilege,
    privileges_in,
)
from llmrelay.errors import ForbiddenError
from llmrelay.store import ApiKey, User

log = logging.getLogger("llmrelay.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user (Basic, a session) or an API key."""

    name: str
    kind: Literal["user", "api_key"]
    grants: tuple[Grant, ...]
    api_key_id: str | None = None
    api_key_name: str | None = None

    def privileges_in(self, space_id: str) -> frozenset[Privilege]:
        return privileges_in(self.grants, space_id)

    def can(self, privilege: Privilege, space_id: str) -> bool:
        return privilege in privileges_in(self.grants, space_id)

    def require(self, privilege: Privilege, space_id: str, *, denied: str) -> None:
        """Raise ForbiddenError(``denied``) without ``privilege`` in the space.

        ``denied`` is the client-facing text (Kibana's, where Kibana has the route); what
        is missing, and which role grants it, goes to the server log only.
        """
        if not self.can(privilege, space_id):
            self.log_denial(privilege, space_id)
            raise ForbiddenError(denied)

    def log_denial(self, privilege: Privilege, space_id: str) -> None:
        """The operator's side of a 403: who lacked what, where, and the role that grants it."""
        who = f"user [{self.name}]"
        if self.kind == "api_key":
            who = f"API key [{self.api_key_name or self.api_key_id}] of [{self.name}]"
        log.info(
            "forbidden: %s may not %s in space [%s]: it needs the role [%s]",
            who,
            PRIVILEGE_VERBS[privilege],
            space_id,
            PRIVILEGE_ROLE_HINT[privilege],
        )

    @property
    def spaces(self) -> set[str]:
        return {g.space for g in self.grants}


def user_principal(user: User) -> Principal:
    return Principal(user.name, "user", user.grants)


def key_principal(key: ApiKey) -> Principal:
    return Principal(
        key.owner or key.name, "api_key", key.grants, api_key_id=key.id, api_key_name=key.name
    )
