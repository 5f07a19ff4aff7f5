"""Token introspection (RFC 7662) with the RFC 8705 §3.2 ``cnf`` and RFC 9701 JWT responses.

Steps, in order:

1. §2.1: POST, an ``application/x-www-form-urlencoded`` body, and client authentication, which
   §2.1 requires ("some form of authorization") to stop token scanning: the mutual-TLS methods
   and ``private_key_jwt``, never a public client (``none``). A caller that fails is answered
   ``invalid_client`` (401) and learns nothing about the token.
2. §2.1: ``token`` is required (``invalid_request``); ``token_type_hint`` is accepted, ignored.
3. The token must be an access token this server issued and that is still valid: signature by
   one of the server's published keys, ``typ: at+jwt``, ``iss``, ``aud`` (the server's first
   token audience; every token it issues carries all of them), ``exp`` without leeway. Anything
   else — garbage, expired, another issuer's — is ``{"active": false}`` with status 200 (§2.2).
4. §4 "the authorization server SHOULD limit": a client may introspect the tokens issued to it;
   a client whose registration carries ``"certbound_introspect_any": true`` (a resource server)
   may introspect every token. Another client's token is answered exactly like an invalid one.
   That member is an operator's grant: a self-service registration endpoint must not let a
   client set it for itself.
5. A token whose ``jti`` is in the :class:`RevokedTokenStore` (RFC 7009) is inactive.
6. §2.2: an active token is described by ``active``, ``client_id``, ``scope``, ``exp``, ``iat``,
   ``nbf`` (when set), ``sub``, ``aud``, ``iss``, ``jti``, ``token_type: "Bearer"`` (RFC 8705 §3
   defines no new type), and ``cnf`` (RFC 8705 §3.2) for a bound token.
7. RFC 9701 §4: when ``Accept`` names ``application/token-introspection+jwt`` the answer is a JWT
   (``typ: token-introspection+jwt``) signed by the active key, with claims ``iss``, ``aud`` (the
   caller's ``client_id``), ``iat`` and ``token_introspection`` (the §2.2 object).

Every answer is ``Cache-Control: no-store`` (§4: a response is a statement about a moment) and
produces a :class:`~certbound.core.events.TokenIntrospected` event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from certbound.core.endpoints._client_endpoint import ClientEndpoint, ClientTokenRequest
from certbound.core.errors import InvalidTokenError
from certbound.core.events import TokenIntrospected
from certbound.core.grants import NO_STORE
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.ports import RevokedTokenStore, TokenSigner

__all__ = [
    "INTROSPECT_ANY",
    "JWT_RESPONSE_MEDIA_TYPE",
    "JWT_RESPONSE_TYP",
    "IntrospectionEndpoint",
    "wants_jwt_response",
]

INTROSPECT_ANY: Final = "certbound_introspect_any"
JWT_RESPONSE_MEDIA_TYPE: Final = "application/token-introspection+jwt"
JWT_RESPONSE_TYP: Final = "token-introspection+jwt"
# RFC 7662 §2.2 members copied from the token's claims when present (RFC 8705 §3.2: cnf).
_DESCRIBED: Final = ("client_id", "scope", "exp", "iat", "nbf", "sub", "aud", "iss", "jti", "cnf")
_INACTIVE: Final[Mapping[str, Any]] = {"active": False}


def wants_jwt_response(request: Request) -> bool:
    """RFC 9701 §4: the ``Accept`` header names ``application/token-introspection+jwt`` (with a
    non-zero ``q``)."""
    for media_range in request.headers.get("accept", "").split(","):
        kind, *params = (part.strip().lower() for part in media_range.split(";"))
        if kind != JWT_RESPONSE_MEDIA_TYPE:
            continue
        q = next((p.partition("=")[2] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            continue
    return False


def _description(claims: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    body.update((name, claims[name]) for name in _DESCRIBED if name in claims)
    return body


@dataclass(frozen=True, slots=True)
class _Verdict:
    body: Mapping[str, Any]
    jti: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class IntrospectionEndpoint:
    """The RFC 7662 endpoint (see the module text); the signer, the published keys and the time
    are passed per request."""

    endpoint: ClientEndpoint
    revoked: RevokedTokenStore

    async def handle(
        self,
        request: Request,
        *,
        verifier: ChainVerifier,
        signer: TokenSigner,
        jwks: Mapping[str, Any],
        now: dt.datetime,
    ) -> Response:
        asked = await self.endpoint.read(request, verifier=verifier, now=now)
        verdict = await self._introspect(asked, jwks, now)
        caller = asked.client.client.client_id
        active = bool(verdict.body["active"])
        self.endpoint.events.emit(TokenIntrospected(caller, verdict.jti, active, verdict.reason))
        if wants_jwt_response(request):
            return self._jwt_response(verdict.body, caller, signer, now)
        return Response(200, dict(verdict.body), dict(NO_STORE))

    async def _introspect(
        self, asked: ClientTokenRequest, jwks: Mapping[str, Any], now: dt.datetime
    ) -> _Verdict:
        try:
            claims = self.endpoint.verify_token(asked.token, jwks, now)
        except InvalidTokenError as exc:
            return _Verdict(_INACTIVE, None, f"invalid_token: {exc.description}")
        jti = str(claims["jti"])
        caller = asked.client.client
        if (
            claims.get("client_id") != caller.client_id
            and caller.extra.get(INTROSPECT_ANY) is not True
        ):
            return _Verdict(_INACTIVE, jti, "not_permitted")
        if await self.revoked.is_revoked(jti):
            return _Verdict(_INACTIVE, jti, "revoked")
        return _Verdict(_description(claims), jti, "active")

    def _jwt_response(
        self, body: Mapping[str, Any], client_id: str, signer: TokenSigner, now: dt.datetime
    ) -> Response:
        """RFC 9701 §5: the introspection response as a signed JWT for the calling client."""
        claims = {
            "iss": self.endpoint.policy.issuer,
            "aud": client_id,
            "iat": int(now.timestamp()),
            "token_introspection": dict(body),
        }
        token = signer.encode(claims, {"typ": JWT_RESPONSE_TYP})
        return Response(200, None, dict(NO_STORE), text=token, media_type=JWT_RESPONSE_MEDIA_TYPE)
