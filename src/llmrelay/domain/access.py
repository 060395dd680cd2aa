"""Roles, what each one may do, and grants of a role in a space: the one place for both.

The store keeps grants and refuses unknown roles; the service turns a caller's grants into
privileges with :data:`ROLE_PRIVILEGES`; the CLI's help lists :data:`ROLES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Privilege = Literal[
    "connectors.read", "connectors.write", "connectors.execute", "usage.read", "admin"
]

ALL_SPACES: Final = "*"

ROLE_PRIVILEGES: Final[dict[str, frozenset[Privilege]]] = {
    "admin": frozenset(
        {"connectors.read", "connectors.write", "connectors.execute", "usage.read", "admin"}
    ),
    "connectors_all": frozenset({"connectors.read", "connectors.write", "connectors.execute"}),
    "connectors_read": frozenset({"connectors.read", "connectors.execute"}),
    "usage_read": frozenset({"usage.read"}),
}

ROLES: Final = frozenset(ROLE_PRIVILEGES)

# the role an operator grants to give a privilege (named in the server log of a 403)
PRIVILEGE_ROLE_HINT: Final[dict[Privilege, str]] = {
    "connectors.read": "connectors_read",
    "connectors.write": "connectors_all",
    "connectors.execute": "connectors_read",
    "usage.read": "usage_read",
    "admin": "admin",
}

# what a privilege lets its holder do, as the server log says it
PRIVILEGE_VERBS: Final[dict[Privilege, str]] = {
    "connectors.read": "get connectors",
    "connectors.write": "change connectors",
    "connectors.execute": "execute connectors",
    "usage.read": "read the event log and usage",
    "admin": "administer users",
}


@dataclass(frozen=True, order=True)
class Grant:
    """A role in one space (``*``: in all spaces)."""

    role: str
    space: str


def privileges_in(grants: tuple[Grant, ...], space_id: str) -> frozenset[Privilege]:
    """Everything ``grants`` allow in ``space_id`` (its own grants and those for ``*``)."""
    out: set[Privilege] = set()
    for grant in grants:
        if grant.space in (space_id, ALL_SPACES):
            out |= ROLE_PRIVILEGES.get(grant.role, frozenset())
    return frozenset(out)
