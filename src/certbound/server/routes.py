"""The route table. One Starlette app serves both listeners (issuer and mTLS alias); the core
decides what a request may do from the certificate it carries, not from the port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from certbound.server.adapter import EndpointHandler, oauth_endpoint

__all__ = ["build_routes"]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _healthz(_: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("ok")


def build_routes(provider: Callable[[], EndpointHandler], *, max_body: int) -> list[BaseRoute]:
    def ep(name: str) -> Callable[[StarletteRequest], Awaitable[Response]]:
        return oauth_endpoint(provider, name, max_body=max_body)

    return [
        Route("/.well-known/oauth-authorization-server", ep("discovery"), methods=["GET", "HEAD"]),
        Route("/.well-known/openid-configuration", ep("discovery"), methods=["GET", "HEAD"]),
        Route("/jwks", ep("jwks"), methods=["GET", "HEAD"]),
        # Every method reaches the token endpoint so that the core answers 405 in OAuth JSON.
        Route("/token", ep("token"), methods=ALL_METHODS),
        Route("/introspect", ep("introspection"), methods=ALL_METHODS),
        Route("/revoke", ep("revocation"), methods=ALL_METHODS),
        Route("/healthz", _healthz, methods=["GET"]),
    ]
