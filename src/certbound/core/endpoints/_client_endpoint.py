"""What the introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) endpoints share.

Both take a POST form from an authenticated client naming one ``token`` (plus an optional
``token_type_hint``, read so that a repeat is refused, then ignored: certbound only has one kind
of token these endpoints can act on, RFC 7009 §2.1 and RFC 7662 §2.1 let the server ignore it).
Both then ask the same question: is this one of this server's own access tokens, still valid?
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from certbound.core.client_auth import AuthenticatedClient, authenticate_client
from certbound.core.client_auth.private_key_jwt import ClientAssertionVerifier
from certbound.core.errors import InvalidRequestError, MethodNotAllowedError
from certbound.core.form import parse_form
from certbound.core.messages import Request
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.policy import ServerPolicy, token_audience
from certbound.core.ports import ClientStore, EventSink, JwksFetcher, ReplayCache
from certbound.core.tokens.access_token import verify_access_token

__all__ = ["FORM_MEDIA_TYPE", "ClientEndpoint", "ClientTokenRequest", "PostOnlyError"]

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"


class PostOnlyError(MethodNotAllowedError):
    """405 with the ``Allow`` header RFC 9110 §15.5.6 requires."""

    def headers(self) -> dict[str, str]:
        return {"Allow": "POST"}


@dataclass(frozen=True, slots=True)
class ClientTokenRequest:
    """An authenticated client and the token it asks about."""

    client: AuthenticatedClient
    token: str


@dataclass(frozen=True, slots=True)
class ClientEndpoint:
    """The collaborators of a client-authenticated token endpoint named ``name`` (a key of
    :data:`~certbound.core.policy.ENDPOINT_PATHS`). ``replay`` None: no ``private_key_jwt``."""

    name: str
    clients: ClientStore
    jwks_fetcher: JwksFetcher
    policy: ServerPolicy
    events: EventSink
    replay: ReplayCache | None
    allowed_methods: Collection[str]

    async def read(
        self, request: Request, *, verifier: ChainVerifier, now: dt.datetime
    ) -> ClientTokenRequest:
        """POST (405), a form body (``invalid_request``), client authentication
        (``invalid_client``), then ``token`` (``invalid_request`` when missing)."""
        if request.method != "POST":
            raise PostOnlyError(f"the {self.name} endpoint accepts POST only")
        if request.content_type != FORM_MEDIA_TYPE:
            raise InvalidRequestError(f"the request body must be {FORM_MEDIA_TYPE}")
        form = parse_form(request.body)
        assertions = None
        if self.replay is not None:
            assertions = ClientAssertionVerifier.for_endpoint(self.policy, self.name, self.replay)
        client = await authenticate_client(
            form,
            request,
            clients=self.clients,
            verifier=verifier,
            jwks_fetcher=self.jwks_fetcher,
            events=self.events,
            now=now,
            allowed_methods=self.allowed_methods,
            assertions=assertions,
        )
        token = form.require("token")
        form.get("token_type_hint")  # accepted (a repeat is invalid_request) and ignored
        return ClientTokenRequest(client, token)

    def verify_token(
        self, token: str, jwks: Mapping[str, Any], now: dt.datetime
    ) -> Mapping[str, Any]:
        """The claims of ``token`` if it is a valid access token of this server (signature by one
        of its published keys, ``typ``, ``iss``, ``exp``, ``iat``, ``nbf``); ``InvalidTokenError``
        naming the reason otherwise. The audience checked is the first of the server's token
        audiences (every token this server issues carries all of them). No leeway: the server
        judges its own tokens by its own clock, so a token is inactive from its ``exp`` on."""
        return verify_access_token(
            token,
            jwks,
            issuer=self.policy.issuer,
            audience=token_audience(self.policy)[0],
            now=int(now.timestamp()),
            leeway=0,
        )
