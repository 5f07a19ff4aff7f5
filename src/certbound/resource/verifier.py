"""Verify a certificate-bound JWT access token at the protected resource (RFC 9068 §4, RFC 8705 §3).

:class:`AccessTokenVerifier` runs, for every request:

1. the RFC 9068 §4 checks (``typ`` at+jwt, signature with the issuer's key, ``iss``, ``aud``,
   ``exp``/``nbf``/``iat`` with a leeway) through ``core.tokens.access_token``, unless the same
   token string passed them recently (see below);
2. the RFC 8705 §3 binding: ``cnf.x5t#S256`` against the certificate of this request's session
   (``core.mtls.binding``), required by default;
3. the scopes the caller asks for (RFC 6750 §3.1 ``insufficient_scope``, 403).

A token that passed step 1 is remembered under its SHA-256 in a bounded LRU (10 000 entries by
default) until ``min(exp, now + cache_ttl)``; a reused token then skips the signature check only.
Steps 2 and 3 run on every request, so a cached token presented with another certificate still
fails. The clock is injectable (``clock() -> float`` seconds since the epoch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from joserfc import jws
from joserfc.errors import JoseError

from certbound.core.errors import InsufficientScopeError, InvalidTokenError
from certbound.core.mtls.binding import check_binding, cnf_thumbprint
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.scopes import SCOPE_TOKEN
from certbound.core.tokens.access_token import DEFAULT_ALGORITHMS, verify_access_token
from certbound.resource._cache import ExpiringLru, token_key
from certbound.resource.jwks_cache import KeySource

__all__ = [
    "AccessTokenVerifier",
    "TokenVerifier",
    "VerifiedAccessToken",
    "VerifierStats",
    "require_scopes",
    "verified_from_claims",
]

DEFAULT_CACHE_SIZE: Final = 10_000
_MALFORMED: Final = "malformed access token"


@dataclass(frozen=True, slots=True)
class VerifiedAccessToken:
    """An access token that passed every check for this request.

    ``client_id`` and ``subject`` are always set for a JWT (RFC 9068 §2.2); an introspection
    response may leave them out (RFC 7662 §2.2). ``cnf_thumbprint`` is the bound certificate's
    ``x5t#S256``, None for an unbound token (accepted only when binding is not required).
    """

    claims: Mapping[str, Any]
    client_id: str | None
    subject: str | None
    scopes: frozenset[str]
    cnf_thumbprint: str | None
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class VerifierStats:
    """Counters for tests and metrics: full verifications and cache hits."""

    signature_checks: int
    cache_hits: int


class TokenVerifier(Protocol):
    """What the middleware needs: a verdict on a token presented with a certificate."""

    async def verify(
        self, token: str, peer: PeerCertificate | None, *, required_scopes: Collection[str] = ()
    ) -> VerifiedAccessToken: ...

    async def aclose(self) -> None: ...


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidTokenError(f"the token's '{name}' claim is not a string")


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """RFC 9068 §2.2.3 / RFC 7662 §2.2: ``scope`` is a space-separated list of scope-tokens."""
    value = claims.get("scope")
    if value is None or value == "":
        return frozenset()
    if not isinstance(value, str):
        raise InvalidTokenError("the token's scope claim is not a string")
    tokens = value.split(" ")
    if not all(SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise InvalidTokenError("the token's scope claim is malformed")
    return frozenset(tokens)


def verified_from_claims(claims: Mapping[str, Any]) -> VerifiedAccessToken:
    """Read the claims every verifier reports (types checked; ``invalid_token`` otherwise)."""
    exp = claims.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise InvalidTokenError("the token's 'exp' claim is not a number")
    return VerifiedAccessToken(
        claims=claims,
        client_id=_optional_str(claims, "client_id"),
        subject=_optional_str(claims, "sub"),
        scopes=_scopes(claims),
        cnf_thumbprint=cnf_thumbprint(claims),
        expires_at=None if exp is None else int(exp),
    )


def require_scopes(token: VerifiedAccessToken, required: Iterable[str]) -> None:
    """RFC 6750 §3.1: ``insufficient_scope`` (403) naming every required scope when one lacks."""
    wanted = tuple(dict.fromkeys(required))
    missing = [s for s in wanted if s not in token.scopes]
    if missing:
        raise InsufficientScopeError(
            "the token lacks a scope this resource requires",
            detail=f"missing scope(s): {' '.join(missing)}",
            scope=" ".join(wanted),
        )


def _kid(token: str) -> str | None:
    """The ``kid`` of a compact JWS header, without trusting anything else in it yet."""
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (UnicodeEncodeError, ValueError, JoseError):
        raise InvalidTokenError(_MALFORMED) from None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


class AccessTokenVerifier:
    """Local verification of RFC 9068 JWTs with the issuer's published keys."""

    def __init__(
        self,
        keys: KeySource,
        *,
        audience: str,
        require_binding: bool = True,
        leeway: int = 30,
        algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audience:
            raise ValueError("the resource server needs its audience (RFC 9068 §4 step 5)")
        self._keys, self._audience = keys, audience
        self._require_binding, self._leeway = require_binding, leeway
        self._algorithms = tuple(algorithms)
        self._cache: ExpiringLru[VerifiedAccessToken] = ExpiringLru(cache_size)
        self._cache_ttl, self._clock = cache_ttl, clock
        self._signature_checks = self._cache_hits = 0

    @property
    def stats(self) -> VerifierStats:
        return VerifierStats(self._signature_checks, self._cache_hits)

    async def aclose(self) -> None:
        """Close the key source's connections."""
        await self._keys.aclose()

    async def verify(
        self, token: str, peer: PeerCertificate | None, *, required_scopes: Collection[str] = ()
    ) -> VerifiedAccessToken:
        """Steps 1–3 of the module docstring; :class:`InvalidTokenError` (401),
        :class:`InsufficientScopeError` (403) or ``ResourceServerUnavailableError`` (503)."""
        now = self._clock()
        key = token_key(token)
        verified = self._cache.get(key, now)
        if verified is None:
            verified = await self._verify_jwt(token, int(now))
            expires = now + self._cache_ttl
            if verified.expires_at is not None:
                expires = min(expires, verified.expires_at)
            self._cache.put(key, verified, expires)
        else:
            self._cache_hits += 1
        check_binding(verified.claims, peer, require=self._require_binding)
        require_scopes(verified, required_scopes)
        return verified

    async def _verify_jwt(self, token: str, now: int) -> VerifiedAccessToken:
        keys = await self._keys.key_set(_kid(token))
        self._signature_checks += 1
        claims = verify_access_token(
            token,
            keys,
            issuer=self._keys.issuer,
            audience=self._audience,
            now=now,
            leeway=self._leeway,
            algorithms=self._algorithms,
        )
        return verified_from_claims(claims)
