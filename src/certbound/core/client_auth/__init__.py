"""Client authentication at the token endpoint and the other client endpoints (RFC 6749 §2.3,
RFC 8705 §2, RFC 7523 §2.2, RFC 8705 §4).

:func:`authenticate_client` detects what the client presented, looks the client up by the
``client_id`` it sent (or, for an assertion without ``client_id``, by the assertion's ``sub``,
RFC 7521 §4.2), and runs the one method the client registered:

- ``tls_client_auth`` / ``self_signed_tls_client_auth`` (RFC 8705 §2.1, §2.2). A handshake alone
  never authenticates a client: the certificate is checked against that client's registration.
- ``private_key_jwt`` (RFC 7523): the client assertion, verified by a
  :class:`~certbound.core.client_auth.private_key_jwt.ClientAssertionVerifier` that the endpoint
  passes in (without one, such clients are refused: the endpoint does not take assertions).
  A certificate presented as well is kept, so that tokens can still be bound to it (RFC 8705 §3).
- ``none``: a public client (RFC 8705 §4) is identified by ``client_id`` only. When it wants
  bound tokens (``tls_client_certificate_bound_access_tokens``, forced on when the server
  requires bound tokens) it must present a certificate, else ``invalid_request``: "a public
  client must present a certificate".

Given a :class:`~certbound.core.client_auth._cache.CachingClientStore`, the client is looked up
through its cache, and a certificate chain that already authenticated the client under the same
registration revision and trust answers from it (``_cache`` says exactly when).

Every other failure is the same public ``invalid_client`` ("client authentication failed"), so a
caller cannot learn which part failed or whether the client exists; the cause goes to the error's
private ``detail`` and to a :class:`~certbound.core.events.ClientAuthFailed` event. A request
without ``client_id`` is a malformed request (``invalid_request``, RFC 6749 §5.2). A client that
presents a method other than its registered one (``client_secret``, ``Authorization: Basic``, an
assertion from an mTLS client) is refused: RFC 6749 §2.3 allows one method per request, and only
the registered one is accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Final

from msgspec import Struct

from certbound.core.client_auth._cache import AuthenticationCache, CachingClientStore
from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.client_auth.private_key_jwt import (
    PRIVATE_KEY_JWT,
    ClientAssertionVerifier,
    assertion_subject,
    authenticate_private_key_jwt,
)
from certbound.core.client_auth.self_signed_tls_client_auth import (
    authenticate_self_signed_tls_client_auth,
)
from certbound.core.client_auth.tls_client_auth import authenticate_tls_client_auth
from certbound.core.clients import SELF_SIGNED_TLS_CLIENT_AUTH, TLS_CLIENT_AUTH, Client
from certbound.core.errors import InvalidClientError, InvalidRequestError, OAuthError
from certbound.core.events import ClientAuthenticated, ClientAuthFailed
from certbound.core.form import FormData
from certbound.core.messages import Request
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.ports import ClientStore, EventSink, JwksFetcher

__all__ = [
    "MTLS_METHODS",
    "NONE",
    "PUBLIC_CLIENT_DESCRIPTION",
    "PUBLIC_DESCRIPTION",
    "SUPPORTED_METHODS",
    "AuthFailureReason",
    "AuthenticatedClient",
    "AuthenticationCache",
    "CachingClientStore",
    "ClientAssertionVerifier",
    "authenticate_client",
]

PUBLIC_DESCRIPTION = "client authentication failed"
PUBLIC_CLIENT_DESCRIPTION = "a public client must present a certificate"
MTLS_METHODS = (TLS_CLIENT_AUTH, SELF_SIGNED_TLS_CLIENT_AUTH)
NONE: Final = "none"
SUPPORTED_METHODS: Final = (*MTLS_METHODS, PRIVATE_KEY_JWT, NONE)

# Parameters of RFC 6749 §2.3.1 secrets (never accepted here), and the method each one means.
_SECRET_PARAMS = (("client_secret", "client_secret_post"),)
_ASSERTION_PARAMS = ("client_assertion", "client_assertion_type")


class AuthenticatedClient(Struct, frozen=True):
    """A client that proved its identity with ``method``, and the certificate it presented."""

    client: Client
    method: str
    peer: PeerCertificate | None


class _Checks(Struct, frozen=True):
    verifier: ChainVerifier
    jwks_fetcher: JwksFetcher
    now: dt.datetime
    allowed_methods: Collection[str]
    assertions: ClientAssertionVerifier | None
    cache: AuthenticationCache | None = None


def _authorization_scheme(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    return (value.split(None, 1) or [""])[0].lower()


def _refused_method(form: FormData, request: Request) -> str | None:
    """A method certbound never accepts (RFC 6749 §2.3.1 secrets, other schemes), if presented."""
    scheme = _authorization_scheme(request)
    if scheme is not None:
        return "client_secret_basic" if scheme == "basic" else f"Authorization: {scheme}"
    for param, method in _SECRET_PARAMS:
        if form.get(param) is not None:
            return method
    return None


def _presented_method(form: FormData) -> str | None:
    """``private_key_jwt`` when the form carries an assertion parameter (RFC 7521 §4.2)."""
    for param in _ASSERTION_PARAMS:
        if form.get(param) is not None:
            return PRIVATE_KEY_JWT
    return None


def _client_id(form: FormData, presented: str | None) -> str:
    if client_id := form.get("client_id"):
        return client_id
    assertion = form.get("client_assertion")
    if presented == PRIVATE_KEY_JWT and assertion is not None:
        if (subject := assertion_subject(assertion)) is not None:
            return subject
        raise ClientAuthFailure(
            AuthFailureReason.ASSERTION_MALFORMED, "no client_id, and no sub in client_assertion"
        )
    raise ClientAuthFailure(AuthFailureReason.MISSING_CLIENT_ID, "no client_id")


def _authenticate_public(client: Client, peer: PeerCertificate | None) -> None:
    """RFC 8705 §4: a public client's tokens are bound to the certificate it presents."""
    if peer is None and client.tls_client_certificate_bound_access_tokens:
        raise ClientAuthFailure(
            AuthFailureReason.PUBLIC_CLIENT_NO_CERTIFICATE,
            "public client without a certificate; its tokens must be certificate-bound",
        )


async def _authenticate_assertion(client: Client, form: FormData, checks: _Checks) -> None:
    if checks.assertions is None:
        raise ClientAuthFailure(
            AuthFailureReason.METHOD_NOT_ALLOWED, "this endpoint takes no client assertions"
        )
    now = int(checks.now.timestamp())
    await authenticate_private_key_jwt(client, form, checks.assertions, checks.jwks_fetcher, now)


async def _run_method(
    client: Client, form: FormData, peer: PeerCertificate | None, checks: _Checks
) -> None:
    method = client.token_endpoint_auth_method
    if method not in SUPPORTED_METHODS or method not in checks.allowed_methods:
        raise ClientAuthFailure(
            AuthFailureReason.METHOD_NOT_ALLOWED,
            f"the client's registered method {method!r} is not accepted here",
        )
    if method == NONE:
        _authenticate_public(client, peer)
    elif method == PRIVATE_KEY_JWT:
        await _authenticate_assertion(client, form, checks)
    elif peer is None:
        raise ClientAuthFailure(AuthFailureReason.NO_CERTIFICATE, "no client certificate")
    else:
        await _authenticate_mtls(client, peer, checks)


async def _authenticate_mtls(client: Client, peer: PeerCertificate, checks: _Checks) -> None:
    """§2.1 or §2.2; answered by the cache when this chain already authenticated the client."""
    cache = checks.cache
    if cache is not None and cache.authenticated(client, peer, checks.verifier, checks.now):
        return
    if client.token_endpoint_auth_method == TLS_CLIENT_AUTH:
        authenticate_tls_client_auth(client, peer, checks.verifier, checks.now)
    else:
        await authenticate_self_signed_tls_client_auth(
            client, peer, checks.jwks_fetcher, checks.now
        )
    if cache is not None:
        cache.remember(client, peer, checks.verifier, checks.now)


def _refusal(failure: ClientAuthFailure, request: Request) -> OAuthError:
    """The one translation of a failure into its OAuth error (STYLE.md rule 4)."""
    if failure.reason == AuthFailureReason.MISSING_CLIENT_ID:
        return InvalidRequestError("client_id is required", detail=failure.detail)
    if failure.reason == AuthFailureReason.PUBLIC_CLIENT_NO_CERTIFICATE:
        return InvalidRequestError(PUBLIC_CLIENT_DESCRIPTION, detail=failure.detail)
    used_basic = _authorization_scheme(request) == "basic"
    return InvalidClientError(PUBLIC_DESCRIPTION, detail=failure.detail, used_basic=used_basic)


async def authenticate_client(
    form: FormData,
    request: Request,
    *,
    clients: ClientStore,
    verifier: ChainVerifier,
    jwks_fetcher: JwksFetcher,
    events: EventSink,
    now: dt.datetime,
    allowed_methods: Collection[str] = MTLS_METHODS,
    assertions: ClientAssertionVerifier | None = None,
) -> AuthenticatedClient:
    """Authenticate the client of a token (or other client-authenticated) request.

    ``allowed_methods`` are the registered methods accepted here; ``assertions`` verifies
    ``private_key_jwt`` assertions (None: this endpoint takes none). Raises
    ``InvalidClientError`` (401; Basic challenge if ``Authorization: Basic`` was used) or
    ``InvalidRequestError`` (no ``client_id``, a repeated parameter, a public client without
    the certificate its bound tokens need).
    """
    client_id = method = None
    cache = clients.cache if isinstance(clients, CachingClientStore) else None
    checks = _Checks(verifier, jwks_fetcher, now, allowed_methods, assertions, cache)
    try:
        if (method := _refused_method(form, request)) is not None:
            raise ClientAuthFailure(
                AuthFailureReason.OTHER_METHOD_PRESENTED,
                f"{method} presented; only the client's registered method is accepted",
            )
        presented = _presented_method(form)
        client_id = _client_id(form, presented)
        if (client := await clients.get(client_id)) is None:
            raise ClientAuthFailure(AuthFailureReason.UNKNOWN_CLIENT, "unknown client_id")
        method = client.token_endpoint_auth_method
        if presented is not None and presented != method:
            method = presented
            raise ClientAuthFailure(
                AuthFailureReason.OTHER_METHOD_PRESENTED,
                f"{presented} presented; the client is registered for"
                f" {client.token_endpoint_auth_method}",
            )
        await _run_method(client, form, request.peer, checks)
    except ClientAuthFailure as failure:
        thumbprint = request.peer.thumbprint if request.peer else None
        events.emit(ClientAuthFailed(client_id, method, failure.reason, failure.detail, thumbprint))
        raise _refusal(failure, request) from None
    thumbprint = request.peer.thumbprint if request.peer else None
    events.emit(ClientAuthenticated(client.client_id, method, thumbprint))
    return AuthenticatedClient(client, method, request.peer)
