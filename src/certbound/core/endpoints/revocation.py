"""Token revocation (RFC 7009).

Steps, in order:

1. §2.1: POST, an ``application/x-www-form-urlencoded`` body, and client authentication: every
   method the server accepts, public clients (``none``) included, as §2.1 allows.
2. §2.1: ``token`` is required (``invalid_request``); ``token_type_hint`` is accepted and
   ignored (§2.1: the server MAY ignore it; the only tokens certbound can revoke are its JWT
   access tokens, so no hint value is "unsupported").
3. The token is verified as an access token of this server (signature, ``typ``, ``iss``,
   ``aud``, ``exp``). §2.2: an invalid, expired, unknown or foreign token is answered 200 and
   nothing happens ("invalid tokens do not cause an error response").
4. §2.1 "verifies whether the token was issued to the client making the revocation request": a
   token of another client is not revoked. certbound still answers 200 (not an error), so a
   client cannot use this endpoint to learn whether a token it holds belongs to someone else.
5. Its ``jti`` is recorded in the :class:`RevokedTokenStore` until the token's ``exp``; from then
   on introspection reports it inactive (resource servers that verify tokens locally only see
   the revocation through introspection).

§2.2: the answer is 200 with an empty body (the client ignores it), ``Cache-Control: no-store``.
Each request produces a :class:`~certbound.core.events.TokenRevoked` or
:class:`~certbound.core.events.RevocationIgnored` event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certbound.core.endpoints._client_endpoint import ClientEndpoint
from certbound.core.errors import InvalidTokenError
from certbound.core.events import RevocationIgnored, TokenRevoked
from certbound.core.grants import NO_STORE
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.ports import RevokedTokenStore

__all__ = ["RevocationEndpoint", "revocation_response"]


def revocation_response() -> Response:
    """RFC 7009 §2.2: 200, an empty body, never cached."""
    return Response(200, None, dict(NO_STORE), text="", media_type="text/plain")


@dataclass(frozen=True, slots=True)
class RevocationEndpoint:
    """The RFC 7009 endpoint (see the module text); the published keys and the time are passed
    per request."""

    endpoint: ClientEndpoint
    revoked: RevokedTokenStore

    async def handle(
        self,
        request: Request,
        *,
        verifier: ChainVerifier,
        jwks: Mapping[str, Any],
        now: dt.datetime,
    ) -> Response:
        asked = await self.endpoint.read(request, verifier=verifier, now=now)
        client_id = asked.client.client.client_id
        events = self.endpoint.events
        try:
            claims = self.endpoint.verify_token(asked.token, jwks, now)
        except InvalidTokenError as exc:
            events.emit(RevocationIgnored(client_id, None, f"invalid_token: {exc.description}"))
            return revocation_response()
        jti, expires_at = str(claims["jti"]), int(claims["exp"])
        if claims.get("client_id") != client_id:
            events.emit(RevocationIgnored(client_id, jti, "not_permitted"))
            return revocation_response()
        await self.revoked.revoke(jti, expires_at)
        events.emit(TokenRevoked(client_id, jti, expires_at))
        return revocation_response()
