"""Errors of authentication and authorisation."""

from __future__ import annotations

from llmrelay.errors.base import LlmrelayError


# --- auth ----------------------------------------------------------------------------
class AuthError(LlmrelayError, http_status=403):
    pass


class UnauthenticatedError(AuthError, http_status=401):
    pass


class ForbiddenError(AuthError):
    pass


class ActionTypeDisabledError(ForbiddenError):
    """The connector's type is not in ``xpack.actions.enabledActionTypes``."""

    def __init__(self, connector_type_id: str) -> None:
        super().__init__(
            f'action type "{connector_type_id}" is not enabled in the '
            "Kibana config xpack.actions.enabledActionTypes"
        )
