"""A small protected API: certificate-bound tokens (RFC 8705 §3) and per-route scopes (RFC 6750).

Every route except ``GET /health`` sits behind
:class:`~certbound.resource.CertificateBoundTokenMiddleware`:

=================  ==========  =====================================================
route              scope       answer
=================  ==========  =====================================================
``GET /hello``     (any)       a greeting naming the client
``GET /accounts``  ``read``    a fixed list of accounts
``POST /payments`` ``write``   201, the JSON payment echoed with an id
``GET /whoami``    (any)       the verified claims and the session's certificate
``GET /health``    public      ``{"status": "ok"}`` (no token needed)
=================  ==========  =====================================================

The verifier is closed when the app shuts down (lifespan).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from certbound.certsource import TrustedProxies, peer_certificate
from certbound.resource import (
    CertificateBoundTokenMiddleware,
    TokenVerifier,
    VerifiedAccessToken,
    access_token,
    requires_scopes,
)

__all__ = ["EXAMPLE_REALM", "PUBLIC_PATHS", "create_example_api"]

EXAMPLE_REALM: Final = "certbound example API"
PUBLIC_PATHS: Final = frozenset({"/health"})
_ACCOUNTS: Final = (
    {"id": "acc-001", "name": "Operating account", "currency": "EUR", "balance": "12500.00"},
    {"id": "acc-002", "name": "Payroll account", "currency": "EUR", "balance": "48210.37"},
)


def _token(request: Request) -> VerifiedAccessToken:
    token = access_token(request.scope)
    if token is None:  # pragma: no cover - the middleware guards every non-public route
        raise RuntimeError("no verified access token")
    return token


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def hello(request: Request) -> JSONResponse:
    token = _token(request)
    return JSONResponse({"message": f"hello, {token.client_id}", "client_id": token.client_id})


async def accounts(request: Request) -> JSONResponse:
    return JSONResponse({"client_id": _token(request).client_id, "accounts": list(_ACCOUNTS)})


async def payments(request: Request) -> JSONResponse:
    try:
        payment = json.loads(await request.body())
    except ValueError:
        payment = None
    if not isinstance(payment, dict):
        return JSONResponse({"message": "the body must be a JSON object"}, 400)
    answer = {**payment, "id": f"pay-{secrets.token_hex(6)}", "status": "accepted"}
    answer["requested_by"] = _token(request).client_id
    return JSONResponse(answer, 201)


async def whoami(request: Request) -> JSONResponse:
    token = _token(request)
    peer = peer_certificate(request.scope)
    certificate: dict[str, Any] | None = None
    if peer is not None:
        certificate = {
            "x5t#S256": peer.thumbprint,
            "subject": peer.leaf.subject.rfc4514_string(),
            "source": peer.source.value,
        }
    return JSONResponse(
        {
            "client_id": token.client_id,
            "subject": token.subject,
            "scopes": sorted(token.scopes),
            "cnf_x5t#S256": token.cnf_thumbprint,
            "certificate": certificate,
            "claims": dict(token.claims),
        }
    )


def create_example_api(
    verifier: TokenVerifier,
    *,
    trusted_proxies: TrustedProxies = TrustedProxies(),  # noqa: B008 (frozen value)
    realm: str | None = EXAMPLE_REALM,
) -> Starlette:
    """The example API protected by ``verifier`` (see the module docstring)."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await verifier.aclose()

    guard = Middleware(
        CertificateBoundTokenMiddleware,
        verifier=verifier,
        trusted_proxies=trusted_proxies,
        protected=lambda path: path not in PUBLIC_PATHS,
        realm=realm,
    )
    routes = [
        Route("/health", health),
        Route("/hello", hello),
        Route("/accounts", requires_scopes("read", realm=realm)(accounts)),
        Route("/payments", requires_scopes("write", realm=realm)(payments), methods=["POST"]),
        Route("/whoami", whoami),
    ]
    return Starlette(routes=routes, middleware=[guard], lifespan=lifespan)
