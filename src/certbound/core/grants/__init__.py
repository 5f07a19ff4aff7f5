"""Grant handlers (RFC 6749 §4) and their registry, keyed by ``grant_type``.

The token endpoint dispatches through a :class:`GrantRegistry`: a new grant (authorization_code,
refresh_token, …) is one more :class:`GrantHandler`, registered at composition time; the endpoint
does not change. A handler receives an immutable :class:`GrantContext` (no mutable request bag) for
a client that is already authenticated, and returns the token :class:`Response`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol

from msgspec import Struct

from certbound.core.client_auth import AuthenticatedClient
from certbound.core.form import FormData
from certbound.core.messages import Request, Response
from certbound.core.policy import ServerPolicy
from certbound.core.ports import EventSink, TokenSigner
from certbound.core.tokens.access_token import IssuedAccessToken

__all__ = ["NO_STORE", "GrantContext", "GrantHandler", "GrantRegistry", "token_response"]

# RFC 6749 §5.1 / §5.2: token responses and token errors must not be cached.
NO_STORE: Final[Mapping[str, str]] = MappingProxyType(
    {"Cache-Control": "no-store", "Pragma": "no-cache"}
)


class GrantContext(Struct, frozen=True):
    """Everything one token request hands to its grant handler."""

    request: Request
    form: FormData
    client: AuthenticatedClient
    policy: ServerPolicy
    signer: TokenSigner
    events: EventSink
    now: dt.datetime


class GrantHandler(Protocol):
    """One RFC 6749 grant: ``grant_type`` is its registered value (e.g. ``client_credentials``)."""

    @property
    def grant_type(self) -> str: ...

    async def handle(self, ctx: GrantContext) -> Response: ...


class GrantRegistry:
    """The enabled grant handlers by ``grant_type``; each type at most once."""

    __slots__ = ("_handlers",)

    def __init__(self, handlers: Iterable[GrantHandler] = ()) -> None:
        self._handlers: dict[str, GrantHandler] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: GrantHandler) -> None:
        """Add ``handler``; ``ValueError`` if its grant_type already has one."""
        if handler.grant_type in self._handlers:
            raise ValueError(f"a handler for grant_type {handler.grant_type!r} is registered")
        self._handlers[handler.grant_type] = handler

    def get(self, grant_type: str) -> GrantHandler | None:
        return self._handlers.get(grant_type)

    def grant_types(self) -> tuple[str, ...]:
        """The registered grant types, in registration order (AS metadata ``grant_types_supported``)."""
        return tuple(self._handlers)

    def __contains__(self, grant_type: object) -> bool:
        return grant_type in self._handlers


def token_response(
    issued: IssuedAccessToken, scope: tuple[str, ...], extra: Mapping[str, Any] | None = None
) -> Response:
    """RFC 6749 §5.1 successful response. ``token_type`` stays ``Bearer`` for a bound token (RFC
    8705 §3 defines no new type); ``scope`` is always listed when not empty (§5.1 requires it when
    it differs from the request, and listing it always is allowed)."""
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }
    if scope:
        body["scope"] = " ".join(scope)
    body.update(extra or {})
    return Response(200, body, dict(NO_STORE))
