"""Verify a bound access token by asking the authorization server (RFC 7662 over mutual TLS).

For opaque tokens, or when the resource server wants revocation seen within seconds:

1. The endpoint is ``mtls_endpoint_aliases.introspection_endpoint`` of the issuer's metadata
   (RFC 8705 §5; the RS authenticates with its own certificate), else ``introspection_endpoint``,
   unless one is configured. Metadata is rediscovered after ``metadata_ttl``.
2. ``POST token=…&token_type_hint=access_token&client_id=…`` (RFC 7662 §2.1; ``client_id``
   identifies a ``tls_client_auth`` client, RFC 8705 §2) over a connection that presents the
   RS's certificate.
3. The answer (RFC 7662 §2.2): ``active: false`` is ``invalid_token``; an active token must not be
   expired, must name this issuer and (when ``audience`` is set) this audience, and must not be
   of a ``token_type`` other than Bearer. Anything unreadable, or another HTTP status than 200,
   is ``ResourceServerUnavailableError`` (503).
4. Then, as for a JWT, the binding (the response's ``cnf``, RFC 8705 §3.2) and the scopes.

Active answers are cached under the token's SHA-256 for ``cache_ttl`` (10 s), never past
``exp``: a revoked token is refused within that delay. Steps 4 run on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, Final

from certbound.core.errors import InvalidTokenError
from certbound.core.mtls.binding import check_binding
from certbound.core.mtls.certificate import PeerCertificate
from certbound.resource._cache import ExpiringLru, token_key
from certbound.resource._discovery import (
    ClientCert,
    Verify,
    check_issuer_url,
    client_ssl_context,
    fetch_metadata,
    http_client,
    post_form,
)
from certbound.resource.errors import ResourceServerUnavailableError
from certbound.resource.verifier import (
    DEFAULT_CACHE_SIZE,
    VerifiedAccessToken,
    require_scopes,
    verified_from_claims,
)

__all__ = ["NOT_ACTIVE", "IntrospectionVerifier"]

NOT_ACTIVE: Final = "the token is not active"
_BEARER_TYPES: Final = frozenset({"bearer", "access_token"})


def _endpoint_from(metadata: Mapping[str, Any], issuer: str) -> str:
    aliases = metadata.get("mtls_endpoint_aliases")
    url = aliases.get("introspection_endpoint") if isinstance(aliases, Mapping) else None
    url = url or metadata.get("introspection_endpoint")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ResourceServerUnavailableError(f"{issuer} advertises no https introspection endpoint")
    return url


class IntrospectionVerifier:
    """A :class:`~certbound.resource.verifier.TokenVerifier` backed by RFC 7662 introspection."""

    def __init__(
        self,
        issuer: str,
        *,
        client_id: str,
        verify: Verify = True,
        client_cert: ClientCert | None = None,
        endpoint: str | None = None,
        audience: str | None = None,
        require_binding: bool = True,
        leeway: int = 30,
        cache_ttl: float = 10.0,
        cache_size: int = DEFAULT_CACHE_SIZE,
        metadata_ttl: float = 300.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ValueError("introspection needs the resource server's client_id")
        self._issuer, self._client_id = check_issuer_url(issuer), client_id
        self._fixed_endpoint = endpoint
        self._audience, self._require_binding, self._leeway = audience, require_binding, leeway
        self._cache: ExpiringLru[VerifiedAccessToken] = ExpiringLru(cache_size)
        self._cache_ttl, self._metadata_ttl, self._clock = cache_ttl, metadata_ttl, clock
        mtls_context = client_ssl_context(verify, client_cert)
        plain_context = mtls_context if client_cert is None else client_ssl_context(verify)
        # Discovery runs without a certificate: the issuer listener need not trust the RS's CA.
        self._discovery = http_client(plain_context, timeout, keep_alive=False)
        self._mtls = http_client(mtls_context, timeout)
        self._endpoint: tuple[str, float] | None = None

    async def verify(
        self, token: str, peer: PeerCertificate | None, *, required_scopes: Collection[str] = ()
    ) -> VerifiedAccessToken:
        """Steps 1–4 of the module docstring."""
        now = self._clock()
        key = token_key(token)
        verified = self._cache.get(key, now)
        if verified is None:
            answer = await post_form(
                self._mtls,
                await self._introspection_endpoint(now),
                {"token": token, "token_type_hint": "access_token", "client_id": self._client_id},
            )
            verified = self._check_answer(answer, int(now))
            expires = now + self._cache_ttl
            if verified.expires_at is not None:
                expires = min(expires, verified.expires_at)
            self._cache.put(key, verified, expires)
        check_binding(verified.claims, peer, require=self._require_binding)
        require_scopes(verified, required_scopes)
        return verified

    async def _introspection_endpoint(self, now: float) -> str:
        if self._fixed_endpoint is not None:
            return self._fixed_endpoint
        if self._endpoint is not None and now < self._endpoint[1]:
            return self._endpoint[0]
        url = _endpoint_from(await fetch_metadata(self._discovery, self._issuer), self._issuer)
        self._endpoint = (url, now + self._metadata_ttl)
        return url

    def _check_answer(self, answer: Mapping[str, Any], now: int) -> VerifiedAccessToken:
        active = answer.get("active")
        if active is False:
            raise InvalidTokenError(NOT_ACTIVE, detail="introspection answered active: false")
        if active is not True:
            raise ResourceServerUnavailableError("the introspection answer has no boolean 'active'")
        verified = verified_from_claims(answer)
        if verified.expires_at is not None and verified.expires_at + self._leeway <= now:
            raise InvalidTokenError("the token has expired", detail="active but past its exp")
        if answer.get("iss", self._issuer) != self._issuer:
            raise InvalidTokenError("the token was issued by another issuer")
        token_type = answer.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() not in _BEARER_TYPES:
            raise InvalidTokenError("the token is not an access token", detail=f"{token_type!r}")
        if self._audience is not None and not self._names_audience(answer.get("aud")):
            raise InvalidTokenError("the token is not intended for this audience")
        return verified

    def _names_audience(self, aud: object) -> bool:
        if isinstance(aud, str):
            return aud == self._audience
        return isinstance(aud, list) and self._audience in aud

    async def aclose(self) -> None:
        await self._discovery.aclose()
        await self._mtls.aclose()

    async def __aenter__(self) -> IntrospectionVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
