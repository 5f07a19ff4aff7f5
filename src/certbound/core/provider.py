"""The Provider: the core's ports and policy, and the dispatch of an endpoint name to its handler.

Adapters (``server.adapter``) call :meth:`Provider.handle` with a framework-neutral request and
render the response. Every :class:`~certbound.core.errors.OAuthError` is answered here as an RFC
6749 §5.2 JSON body (``Cache-Control: no-store``, ``Pragma: no-cache``, plus the error's own headers
such as a Basic challenge) and reported as a :class:`~certbound.core.events.RequestRejected` event.
Anything else (a storage outage, a bug) propagates to the adapter, which answers 503 / 500.

The provider is immutable apart from one thing: the chain verifier, which is replaced as a whole
when the trust store is reloaded (:meth:`Provider.replace_verifier`). Each request reads the
verifier once, so a request never sees half of a reload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final, Protocol

from certbound.core.endpoints.discovery import discovery_document, server_metadata
from certbound.core.endpoints.jwks import jwks_document
from certbound.core.endpoints.token import TokenEndpoint
from certbound.core.errors import MethodNotAllowedError, NotFoundError, OAuthError
from certbound.core.events import RequestRejected
from certbound.core.grants import NO_STORE, GrantRegistry
from certbound.core.grants.client_credentials import ClientCredentialsGrant
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.policy import ServerPolicy
from certbound.core.ports import ClientStore, Clock, EventSink, JwksFetcher, TokenSigner

__all__ = ["ENDPOINTS", "Provider", "SigningKeys", "default_grants", "error_response"]

ENDPOINTS: Final = ("token", "discovery", "jwks")
_SERVED: Final = ("token", "jwks")  # the endpoints listed in the metadata document


class SigningKeys(Protocol):
    """The signing keys (``keys.keyset.KeySet``): the active signer and the published JWK Set."""

    @property
    def active(self) -> TokenSigner: ...

    def jwks(self) -> Mapping[str, Any]: ...


class _ReadOnlyError(MethodNotAllowedError):
    """405 for the GET-only metadata endpoints, with RFC 9110 §15.5.6 ``Allow``."""

    def headers(self) -> dict[str, str]:
        return {"Allow": "GET, HEAD"}


def default_grants() -> GrantRegistry:
    """The grants enabled out of the box: ``client_credentials`` (RFC 6749 §4.4)."""
    return GrantRegistry([ClientCredentialsGrant()])


def error_response(error: OAuthError) -> Response:
    """RFC 6749 §5.2: the error body, never cached, with the error's own headers."""
    return Response(error.status_code, error.body(), {**NO_STORE, **error.headers()})


class Provider:
    """The authorization server's protocol core (see the module docstring)."""

    __slots__ = ("_clock", "_events", "_grants", "_keys", "_policy", "_token", "_verifier")

    def __init__(
        self,
        clients: ClientStore,
        verifier: ChainVerifier,
        keys: SigningKeys,
        jwks_fetcher: JwksFetcher,
        policy: ServerPolicy,
        clock: Clock,
        events: EventSink,
        grants: GrantRegistry | None = None,
    ) -> None:
        self._verifier = verifier
        self._keys = keys
        self._policy = policy
        self._clock = clock
        self._events = events
        self._grants = grants if grants is not None else default_grants()
        self._token = TokenEndpoint(clients, jwks_fetcher, policy, events, self._grants)

    @property
    def policy(self) -> ServerPolicy:
        return self._policy

    @property
    def grants(self) -> GrantRegistry:
        return self._grants

    @property
    def verifier(self) -> ChainVerifier:
        return self._verifier

    def replace_verifier(self, verifier: ChainVerifier) -> None:
        """Swap the trust store's verifier (hot reload); one attribute store, atomic for asyncio."""
        self._verifier = verifier

    async def handle(self, endpoint: str, request: Request) -> Response:
        """Answer ``request`` on ``endpoint`` (one of :data:`ENDPOINTS`); OAuth errors become
        §5.2 responses plus a ``RequestRejected`` event."""
        try:
            return await self._dispatch(endpoint, request)
        except OAuthError as error:
            detail = error.detail if error.detail is not None else error.description
            self._events.emit(RequestRejected(endpoint, error.error, error.status_code, detail))
            return error_response(error)

    async def _dispatch(self, endpoint: str, request: Request) -> Response:
        if endpoint == "token":
            now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
            return await self._token.handle(
                request, verifier=self._verifier, signer=self._keys.active, now=now
            )
        if endpoint not in ENDPOINTS:
            raise NotFoundError("unknown endpoint", detail=f"endpoint={endpoint[:64]!r}")
        if request.method not in ("GET", "HEAD"):
            raise _ReadOnlyError(f"the {endpoint} endpoint accepts GET only")
        if endpoint == "jwks":
            return jwks_document(self._keys.jwks())
        metadata = server_metadata(
            self._policy, endpoints=_SERVED, grant_types=self._grants.grant_types()
        )
        return discovery_document(metadata)
