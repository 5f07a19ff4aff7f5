"""Client authentication at the token endpoint (RFC 6749 §2.3, RFC 8705 §2).

:func:`authenticate_client` detects what the client presented, looks the client up by the
``client_id`` it sent, and runs the one method the client registered. A handshake alone never
authenticates a client (§2): the certificate is checked against that client's registration.

Every failure is the same public ``invalid_client`` ("client authentication failed"), so a caller
cannot learn which part failed or whether the client exists; the cause goes to the error's private
``detail`` and to a :class:`~certbound.core.events.ClientAuthFailed` event. The one exception is a
request without ``client_id``: that is a malformed request (``invalid_request``, RFC 6749 §5.2).
A client that presents another method as well (``client_secret``, ``Authorization: Basic``, a
client assertion) is refused: RFC 6749 §2.3 allows one method per request, and only the registered
one is accepted (§2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.client_auth.self_signed_tls_client_auth import (
    authenticate_self_signed_tls_client_auth,
)
from certbound.core.client_auth.tls_client_auth import authenticate_tls_client_auth
from certbound.core.clients import SELF_SIGNED_TLS_CLIENT_AUTH, TLS_CLIENT_AUTH, Client
from certbound.core.errors import InvalidClientError, InvalidRequestError
from certbound.core.events import ClientAuthenticated, ClientAuthFailed
from certbound.core.form import FormData
from certbound.core.messages import Request
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.ports import ClientStore, EventSink, JwksFetcher

__all__ = [
    "MTLS_METHODS",
    "PUBLIC_DESCRIPTION",
    "AuthFailureReason",
    "AuthenticatedClient",
    "authenticate_client",
]

PUBLIC_DESCRIPTION = "client authentication failed"
MTLS_METHODS = (TLS_CLIENT_AUTH, SELF_SIGNED_TLS_CLIENT_AUTH)

# Parameters of other RFC 6749 §2.3 / RFC 7523 methods, and the method each one means.
_OTHER_METHOD_PARAMS = (
    ("client_secret", "client_secret_post"),
    ("client_assertion", "private_key_jwt"),
    ("client_assertion_type", "private_key_jwt"),
)


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    """A client that proved its identity with ``method``, and the certificate it used."""

    client: Client
    method: str
    peer: PeerCertificate | None


@dataclass(frozen=True, slots=True)
class _Checks:
    verifier: ChainVerifier
    jwks_fetcher: JwksFetcher
    now: dt.datetime
    allowed_methods: Collection[str]


def _authorization_scheme(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    return (value.split(None, 1) or [""])[0].lower()


def _other_method(form: FormData, request: Request) -> str | None:
    """The non-mTLS method the request presents, if any (RFC 6749 §2.3.1, RFC 7523 §2.2)."""
    scheme = _authorization_scheme(request)
    if scheme is not None:
        return "client_secret_basic" if scheme == "basic" else f"Authorization: {scheme}"
    for param, method in _OTHER_METHOD_PARAMS:
        if form.get(param) is not None:
            return method
    return None


async def _run_method(client: Client, peer: PeerCertificate | None, checks: _Checks) -> None:
    method = client.token_endpoint_auth_method
    if method not in MTLS_METHODS or method not in checks.allowed_methods:
        raise ClientAuthFailure(
            AuthFailureReason.METHOD_NOT_ALLOWED,
            f"the client's registered method {method!r} is not enabled on this server",
        )
    if peer is None:
        raise ClientAuthFailure(AuthFailureReason.NO_CERTIFICATE, "no client certificate")
    if method == TLS_CLIENT_AUTH:
        authenticate_tls_client_auth(client, peer, checks.verifier, checks.now)
    else:
        await authenticate_self_signed_tls_client_auth(
            client, peer, checks.jwks_fetcher, checks.now
        )


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
) -> AuthenticatedClient:
    """RFC 8705 §2: authenticate the client of a token (or other client-authenticated) request.

    Raises ``InvalidClientError`` (401; Basic challenge if ``Authorization: Basic`` was used) or
    ``InvalidRequestError`` (no ``client_id``, or a repeated parameter).
    """
    client_id = method = None
    checks = _Checks(verifier, jwks_fetcher, now, allowed_methods)
    try:
        if (method := _other_method(form, request)) is not None:
            raise ClientAuthFailure(
                AuthFailureReason.OTHER_METHOD_PRESENTED,
                f"{method} presented; only the registered mutual-TLS method is accepted",
            )
        if not (client_id := form.get("client_id")):
            raise ClientAuthFailure(AuthFailureReason.MISSING_CLIENT_ID, "no client_id")
        if (client := await clients.get(client_id)) is None:
            raise ClientAuthFailure(AuthFailureReason.UNKNOWN_CLIENT, "unknown client_id")
        method = client.token_endpoint_auth_method
        await _run_method(client, request.peer, checks)
    except ClientAuthFailure as failure:
        thumbprint = request.peer.thumbprint if request.peer else None
        events.emit(ClientAuthFailed(client_id, method, failure.reason, failure.detail, thumbprint))
        if failure.reason == AuthFailureReason.MISSING_CLIENT_ID:
            raise InvalidRequestError("client_id is required", detail=failure.detail) from None
        used_basic = _authorization_scheme(request) == "basic"
        raise InvalidClientError(
            PUBLIC_DESCRIPTION, detail=failure.detail, used_basic=used_basic
        ) from None
    thumbprint = request.peer.thumbprint if request.peer else None
    events.emit(ClientAuthenticated(client.client_id, method, thumbprint))
    return AuthenticatedClient(client, method, request.peer)
