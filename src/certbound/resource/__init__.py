"""The protected resource's side of RFC 8705: accept only tokens bound to the caller's certificate.

- :class:`AccessTokenVerifier` verifies RFC 9068 JWTs locally with the issuer's keys
  (:class:`RemoteJwks`: discovery, cache, rate-limited refetch on an unknown ``kid``);
  :class:`IntrospectionVerifier` asks the authorization server instead (RFC 7662 over mTLS).
- :class:`CertificateBoundTokenMiddleware` (ASGI) takes the Bearer token (RFC 6750 §2.1) and the
  client certificate (``certbound.certsource``), verifies both, and puts the
  :class:`VerifiedAccessToken` in ``request.state.access_token``.
- :func:`requires_scopes` (Starlette endpoints) and :func:`require_token` (FastAPI ``Depends``)
  add per-route scopes (RFC 6750 §3.1 ``insufficient_scope``).

Verifiers hold HTTP connections: call ``await verifier.aclose()`` at application shutdown.
"""

from __future__ import annotations

from .dependency import require_token, requires_scopes
from .errors import ResourceServerUnavailableError
from .introspection import IntrospectionVerifier
from .jwks_cache import KeySource, RemoteJwks
from .middleware import (
    ACCESS_TOKEN,
    CertificateBoundTokenMiddleware,
    access_token,
    bearer_challenge,
    bearer_token,
)
from .verifier import (
    AccessTokenVerifier,
    TokenVerifier,
    VerifiedAccessToken,
    VerifierStats,
    require_scopes,
)

__all__ = [
    "ACCESS_TOKEN",
    "AccessTokenVerifier",
    "CertificateBoundTokenMiddleware",
    "IntrospectionVerifier",
    "KeySource",
    "RemoteJwks",
    "ResourceServerUnavailableError",
    "TokenVerifier",
    "VerifiedAccessToken",
    "VerifierStats",
    "access_token",
    "bearer_challenge",
    "bearer_token",
    "require_scopes",
    "require_token",
    "requires_scopes",
]
