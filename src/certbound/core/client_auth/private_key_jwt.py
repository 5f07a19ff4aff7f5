"""``private_key_jwt``: a client assertion signed with the client's own key (RFC 7523 §2.2, §3;
OpenID Connect Core 1.0 §9).

The request carries ``client_assertion_type`` =
``urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and ``client_assertion``, a compact
JWS. :class:`ClientAssertionVerifier` checks it as RFC 7523 §3 numbers the rules:

1. ``iss`` and ``sub`` are both the ``client_id`` (items 1, 2).
2. ``aud`` names this server (item 3): the issuer, the token endpoint URL, or the URL of the
   endpoint being called, on either listener (the issuer's or the RFC 8705 §5 mTLS alias).
3. ``exp`` is required and not past (item 4, with :attr:`~ClientAssertionVerifier.leeway`); it
   may lie at most :attr:`~ClientAssertionVerifier.max_ttl` seconds ahead, and when ``iat`` is
   present ``exp - iat`` may be at most :attr:`~ClientAssertionVerifier.max_lifetime` (a
   long-lived assertion is a bearer credential; certbound's limit). ``iat`` and ``nbf`` may not
   lie in the future (items 5, 6).
4. ``jti`` is required and single-use: it is recorded in the :class:`ReplayCache` until ``exp``
   plus the leeway, per client (item 7). A replay is ``assertion_replayed``.
5. The signature (item 9) verifies with a key of the client's ``jwks`` or ``jwks_uri``, with one
   of :data:`ASSERTION_ALGORITHMS` only: never ``none``, never an HMAC. A ``kid`` in the header
   selects the key; without one every registered key of a fitting type is tried. A key unknown
   to a cached ``jwks_uri`` set triggers one forced refetch (key rotation), as in RFC 8705 §2.2.

Every failure is a :class:`ClientAuthFailure`; the caller turns it into ``invalid_client``.

Interoperability note: some client libraries default to hour-long assertions (Authlib signs
``exp = iat + 3600``); they must be configured for at most five minutes to be accepted here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError

from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.client_auth._jwks import fetch_client_jwks
from certbound.core.client_auth.assertion_keys import verify_with_jwks
from certbound.core.clients import Client
from certbound.core.form import FormData
from certbound.core.policy import ServerPolicy, endpoint_url, mtls_endpoint_url
from certbound.core.ports import JwksFetcher, ReplayCache

__all__ = [
    "ASSERTION_ALGORITHMS",
    "CLIENT_ASSERTION_TYPE",
    "PRIVATE_KEY_JWT",
    "ClientAssertionVerifier",
    "assertion_subject",
    "authenticate_private_key_jwt",
]

PRIVATE_KEY_JWT: Final = "private_key_jwt"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Asymmetric algorithms only (RFC 7523 §3 item 9 with a registered public key). "Ed25519" is the
# RFC 9864 name; the deprecated "EdDSA" is not accepted.
ASSERTION_ALGORITHMS: Final = ("ES256", "ES384", "PS256", "RS256", "Ed25519")
_JTI_MAX: Final = 256

_Claims = Mapping[str, Any]


def _fail(reason: str, detail: str) -> ClientAuthFailure:
    return ClientAuthFailure(reason, detail)


def _extract(assertion: str) -> jws.CompactSignature:
    try:
        return jws.extract_compact(assertion.encode("ascii"))
    except (UnicodeEncodeError, ValueError, JoseError):
        raise _fail(
            AuthFailureReason.ASSERTION_MALFORMED, "client_assertion is not a compact JWS"
        ) from None


def _payload_object(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise _fail(
            AuthFailureReason.ASSERTION_MALFORMED, "client_assertion payload is not a JSON object"
        )
    return claims


def assertion_subject(assertion: str) -> str | None:
    """The (unverified) ``sub`` of an assertion: RFC 7521 §4.2 lets a client omit ``client_id``
    when its assertion names it. Only for looking the client up; never a verdict."""
    try:
        sub = _payload_object(_extract(assertion).payload).get("sub")
    except ClientAuthFailure:
        return None
    return sub if isinstance(sub, str) and sub else None


def _audiences(aud: Any) -> Sequence[Any]:
    if isinstance(aud, str):
        return (aud,)
    return aud if isinstance(aud, list) else ()


def _numeric_date(claims: _Claims, name: str) -> int | None:
    """An optional NumericDate claim (RFC 7519 §2), integer seconds; None when absent."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _claims_error(f"'{name}' must be a NumericDate (integer seconds)")
    return value


def _claims_error(why: str) -> ClientAuthFailure:
    return _fail(AuthFailureReason.ASSERTION_CLAIMS_INVALID, f"client_assertion: {why}")


@dataclass(frozen=True, slots=True)
class ClientAssertionVerifier:
    """Verifies ``private_key_jwt`` assertions presented at one endpoint (see the module text).

    ``audiences`` are the accepted ``aud`` values; ``replay`` records used ``jti`` values.
    """

    audiences: frozenset[str]
    replay: ReplayCache
    algorithms: tuple[str, ...] = ASSERTION_ALGORITHMS
    max_lifetime: int = 300  # exp - iat, when iat is present
    max_ttl: int = 600  # exp - now
    leeway: int = 30  # clock skew allowed on exp, iat, nbf

    @classmethod
    def for_endpoint(
        cls, policy: ServerPolicy, endpoint: str, replay: ReplayCache
    ) -> ClientAssertionVerifier:
        """Accept the issuer and the token and ``endpoint`` URLs on both listeners as ``aud``."""
        urls = {policy.issuer}
        for name in dict.fromkeys(("token", endpoint)):
            urls.add(endpoint_url(policy, name))
            alias = mtls_endpoint_url(policy, name)
            if alias is not None:
                urls.add(alias)
        return cls(frozenset(urls), replay)

    async def verify(
        self, assertion: str, client: Client, jwks_fetcher: JwksFetcher, now: int
    ) -> _Claims:
        """RFC 7523 §3: the assertion's claims, or :class:`ClientAuthFailure`."""
        header = _extract(assertion).headers()
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _fail(
                AuthFailureReason.ASSERTION_ALGORITHM_REFUSED,
                f"client_assertion alg {alg!r} is not one of {', '.join(self.algorithms)}",
            )
        payload = await self._verified_payload(
            assertion, client, jwks_fetcher, kid if isinstance(kid, str) else None, alg
        )
        claims = _payload_object(payload)
        exp = self._check_claims(claims, client.client_id, now)
        jti = claims["jti"]
        if not await self.replay.use(f"{client.client_id}:{jti}", exp + self.leeway):
            raise _fail(
                AuthFailureReason.ASSERTION_REPLAYED,
                f"client_assertion jti {jti!r} was used before",
            )
        return claims

    async def _verified_payload(
        self, assertion: str, client: Client, fetcher: JwksFetcher, kid: str | None, alg: str
    ) -> bytes:
        if client.jwks is not None:
            payload = verify_with_jwks(client.jwks, assertion, kid, alg)
            where = "jwks"
        elif client.jwks_uri is not None:
            jwks = await fetch_client_jwks(fetcher, client.jwks_uri, force=False)
            payload = verify_with_jwks(jwks, assertion, kid, alg)
            if payload is None:  # the client may have rotated its keys: refetch once
                jwks = await fetch_client_jwks(fetcher, client.jwks_uri, force=True)
                payload = verify_with_jwks(jwks, assertion, kid, alg)
            where = "jwks_uri"
        else:
            raise _fail(
                AuthFailureReason.NO_KEYS_REGISTERED, "the client has neither jwks nor jwks_uri"
            )
        if payload is None:
            raise _fail(
                AuthFailureReason.ASSERTION_SIGNATURE_INVALID,
                f"no key of the client's {where} verifies the client_assertion"
                f" (alg {alg}, kid {kid!r})",
            )
        return payload

    def _check_claims(self, claims: _Claims, client_id: str, now: int) -> int:
        """RFC 7523 §3 items 1-7; returns ``exp``."""
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise _claims_error("iss and sub must both be the client_id")
        named = {a for a in _audiences(claims.get("aud")) if isinstance(a, str)}
        if not self.audiences.intersection(named):
            raise _claims_error("aud does not name this authorization server")
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise _claims_error("exp is required")
        if exp + self.leeway < now:
            raise _claims_error("expired")
        if exp - now > self.max_ttl:
            raise _claims_error(f"exp is more than {self.max_ttl} seconds ahead")
        iat = _numeric_date(claims, "iat")
        if iat is not None and iat > now + self.leeway:
            raise _claims_error("issued in the future")
        if iat is not None and exp - iat > self.max_lifetime:
            raise _claims_error(f"lifetime exp - iat exceeds {self.max_lifetime} seconds")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + self.leeway:
            raise _claims_error("not valid yet (nbf)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _JTI_MAX:
            raise _claims_error(f"jti is required (a string of 1 to {_JTI_MAX} characters)")
        return exp


async def authenticate_private_key_jwt(
    client: Client,
    form: FormData,
    verifier: ClientAssertionVerifier,
    jwks_fetcher: JwksFetcher,
    now: int,
) -> None:
    """RFC 7523 §2.2: the request's assertion must be of the jwt-bearer type and verify for
    ``client``; :class:`ClientAuthFailure` otherwise."""
    assertion, kind = form.get("client_assertion"), form.get("client_assertion_type")
    if assertion is None or kind is None:
        raise _fail(
            AuthFailureReason.ASSERTION_MISSING,
            "private_key_jwt needs client_assertion and client_assertion_type",
        )
    if kind != CLIENT_ASSERTION_TYPE:
        raise _fail(
            AuthFailureReason.ASSERTION_TYPE_UNSUPPORTED,
            f"client_assertion_type {kind[:80]!r} is not {CLIENT_ASSERTION_TYPE}",
        )
    await verifier.verify(assertion, client, jwks_fetcher, now)
