"""The Provider: the core's ports and policy, and the dispatch of an endpoint name to its handler.

Adapters (``server.adapter``) call :meth:`Provider.handle` with a framework-neutral request and
render the response. Every :class:`~certbound.core.errors.OAuthError` is answered here as an RFC
6749 §5.2 JSON body (``Cache-Control: no-store``, ``Pragma: no-cache``, plus the error's own headers
such as a Basic challenge) and reported as a :class:`~certbound.core.events.RequestRejected` event.
Anything else (a storage outage, a bug) propagates to the adapter, which answers 503 / 500.

The provider is immutable apart from one thing: the chain verifier, which is replaced as a whole
when the trust store is reloaded (:meth:`Provider.replace_verifier`). Each request reads the
verifier once, so a request never sees half of a reload.

Optional ports switch features on, and a feature is served (and listed in the metadata) only
with its port: ``revoked`` (a :class:`RevokedTokenStore`) enables the introspection (RFC 7662)
and revocation (RFC 7009) endpoints, which without it answer 404 like an unknown endpoint;
``replay`` (a :class:`ReplayCache`) enables ``private_key_jwt`` at the introspection and
revocation endpoints, and a policy that lists ``private_key_jwt`` without it is refused at
construction (a missing security input stops start-up, STYLE.md rule 8); ``registration`` (a
:class:`RegistrationPolicy` that is enabled) with ``registration_tokens`` enables RFC 7591 / 7592
registration at ``/register``, listed as ``registration_endpoint``. The token endpoint
(``endpoints/token.py``) does not yet hand a
:class:`~certbound.core.client_auth.ClientAssertionVerifier` to ``authenticate_client``; until
it does, ``private_key_jwt`` clients are refused there (``method_not_allowed``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from certbound.core.client_auth.private_key_jwt import PRIVATE_KEY_JWT
from certbound.core.endpoints._client_endpoint import ClientEndpoint
from certbound.core.endpoints.discovery import (
    discovery_document,
    endpoint_auth_methods,
    server_metadata,
)
from certbound.core.endpoints.introspection import IntrospectionEndpoint
from certbound.core.endpoints.jwks import jwks_document
from certbound.core.endpoints.registration import (
    RegistrationEndpoint,
    RegistrationPolicy,
    RegistrationTokenStore,
)
from certbound.core.endpoints.revocation import RevocationEndpoint
from certbound.core.endpoints.token import TokenEndpoint
from certbound.core.errors import MethodNotAllowedError, NotFoundError, OAuthError
from certbound.core.events import RequestRejected
from certbound.core.grants import NO_STORE, GrantRegistry
from certbound.core.grants.client_credentials import ClientCredentialsGrant
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.policy import ServerPolicy
from certbound.core.ports import (
    ClientStore,
    Clock,
    EventSink,
    JwksFetcher,
    ReplayCache,
    RevokedTokenStore,
    TokenSigner,
)

__all__ = ["ENDPOINTS", "Provider", "SigningKeys", "default_grants", "error_response"]

ENDPOINTS: Final = ("token", "discovery", "jwks", "introspection", "revocation", "registration")
_TOKEN_ENDPOINTS: Final = ("introspection", "revocation")  # served only with a RevokedTokenStore


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


@dataclass(frozen=True, slots=True)
class _TokenEndpoints:
    """The RFC 7662 and RFC 7009 endpoints, which exist together (both need the revoked store)."""

    introspection: IntrospectionEndpoint
    revocation: RevocationEndpoint


def _token_endpoints(
    clients: ClientStore,
    jwks_fetcher: JwksFetcher,
    policy: ServerPolicy,
    events: EventSink,
    revoked: RevokedTokenStore,
    replay: ReplayCache | None,
) -> _TokenEndpoints:
    def endpoint(name: str) -> ClientEndpoint:
        methods = endpoint_auth_methods(policy, name)
        return ClientEndpoint(name, clients, jwks_fetcher, policy, events, replay, methods)

    return _TokenEndpoints(
        IntrospectionEndpoint(endpoint("introspection"), revoked),
        RevocationEndpoint(endpoint("revocation"), revoked),
    )


def _registration_endpoint(
    clients: ClientStore,
    policy: ServerPolicy,
    events: EventSink,
    registration: RegistrationPolicy | None,
    tokens: RegistrationTokenStore | None,
) -> RegistrationEndpoint | None:
    """RFC 7591 / 7592, when enabled; an enabled policy without a token store is refused."""
    if registration is None or not registration.enabled:
        return None
    if tokens is None:
        raise ValueError(
            "registration is enabled but has no RegistrationTokenStore (registration_tokens=...)"
            " to keep the registration access tokens (RFC 7592 section 3)"
        )
    return RegistrationEndpoint(clients, tokens, policy, registration, events)


class Provider:
    """The authorization server's protocol core (see the module docstring)."""

    __slots__ = (
        "_clock",
        "_events",
        "_grants",
        "_keys",
        "_policy",
        "_registration",
        "_token",
        "_token_endpoints",
        "_verifier",
    )

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
        *,
        revoked: RevokedTokenStore | None = None,
        replay: ReplayCache | None = None,
        registration: RegistrationPolicy | None = None,
        registration_tokens: RegistrationTokenStore | None = None,
    ) -> None:
        if PRIVATE_KEY_JWT in policy.client_auth_methods and replay is None:
            raise ValueError(
                "the policy accepts private_key_jwt, which needs a ReplayCache (replay=) to keep"
                " client assertions single-use (RFC 7523 section 3)"
            )
        self._verifier = verifier
        self._keys = keys
        self._policy = policy
        self._clock = clock
        self._events = events
        self._grants = grants if grants is not None else default_grants()
        self._token = TokenEndpoint(clients, jwks_fetcher, policy, events, self._grants, replay)
        self._token_endpoints = (
            None
            if revoked is None
            else _token_endpoints(clients, jwks_fetcher, policy, events, revoked, replay)
        )
        self._registration = _registration_endpoint(
            clients, policy, events, registration, registration_tokens
        )

    @property
    def policy(self) -> ServerPolicy:
        return self._policy

    @property
    def grants(self) -> GrantRegistry:
        return self._grants

    @property
    def verifier(self) -> ChainVerifier:
        return self._verifier

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoint names this provider serves (introspection and revocation only with a
        revoked-token store)."""
        absent = set(_TOKEN_ENDPOINTS) if self._token_endpoints is None else set()
        if self._registration is None:
            absent.add("registration")
        return tuple(e for e in ENDPOINTS if e not in absent)

    def replace_verifier(self, verifier: ChainVerifier) -> None:
        """Swap the trust store's verifier (hot reload); one attribute store, atomic for asyncio."""
        self._verifier = verifier

    async def handle(self, endpoint: str, request: Request) -> Response:
        """Answer ``request`` on ``endpoint`` (one of :attr:`endpoints`); OAuth errors become
        §5.2 responses plus a ``RequestRejected`` event."""
        try:
            return await self._dispatch(endpoint, request)
        except OAuthError as error:
            detail = error.detail if error.detail is not None else error.description
            self._events.emit(RequestRejected(endpoint, error.error, error.status_code, detail))
            return error_response(error)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    async def _dispatch(self, endpoint: str, request: Request) -> Response:
        if endpoint == "token":
            return await self._token.handle(
                request, verifier=self._verifier, signer=self._keys.active, now=self._now()
            )
        if endpoint in _TOKEN_ENDPOINTS:
            return await self._token_endpoint(endpoint, request)
        if endpoint == "registration" and self._registration is not None:
            return await self._registration.handle(request, now=self._now())
        if endpoint not in self.endpoints:
            raise NotFoundError("unknown endpoint", detail=f"endpoint={endpoint[:64]!r}")
        if request.method not in ("GET", "HEAD"):
            raise _ReadOnlyError(f"the {endpoint} endpoint accepts GET only")
        if endpoint == "jwks":
            return jwks_document(self._keys.jwks())
        return discovery_document(self._metadata())

    async def _token_endpoint(self, endpoint: str, request: Request) -> Response:
        served = self._token_endpoints
        if served is None:
            raise NotFoundError(
                "unknown endpoint",
                detail=f"endpoint={endpoint!r} needs a RevokedTokenStore (Provider(revoked=...))",
            )
        verifier, jwks = self._verifier, self._keys.jwks()
        if endpoint == "revocation":
            return await served.revocation.handle(
                request, verifier=verifier, jwks=jwks, now=self._now()
            )
        return await served.introspection.handle(
            request, verifier=verifier, signer=self._keys.active, jwks=jwks, now=self._now()
        )

    def _metadata(self) -> dict[str, Any]:
        served = [e for e in self.endpoints if e not in ("discovery",)]
        return server_metadata(
            self._policy,
            endpoints=served,
            grant_types=self._grants.grant_types(),
            introspection_signing_algs=(self._keys.active.alg,),
        )
