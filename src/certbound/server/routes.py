"""The route table. One Starlette app serves both listeners (issuer and mTLS alias); the core
decides what a request may do from the certificate it carries, not from the port.

:func:`direct_routes` lists the OAuth endpoints that the app may call without Starlette's router
(exact path, accepted method): the router would pick the same endpoint, so skipping it changes
nothing but the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Route

from certbound.core.endpoints.discovery import OAUTH_METADATA_PATH, OIDC_CONFIGURATION_PATH
from certbound.server.adapter import EndpointHandler, OAuthEndpoint, oauth_endpoint

__all__ = ["ALL_METHODS", "DirectRoute", "build_routes", "direct_routes"]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

DirectRoute = tuple[frozenset[str], OAuthEndpoint]  # accepted methods, endpoint


async def _healthz(_: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("ok")


def build_routes(provider: Callable[[], EndpointHandler], *, max_body: int) -> list[BaseRoute]:
    def ep(name: str) -> OAuthEndpoint:
        return oauth_endpoint(provider, name, max_body=max_body)

    return [
        Route(OAUTH_METADATA_PATH, ep("discovery"), methods=["GET", "HEAD"]),
        Route(OIDC_CONFIGURATION_PATH, ep("discovery"), methods=["GET", "HEAD"]),
        Route("/jwks", ep("jwks"), methods=["GET", "HEAD"]),
        # Every method reaches the token endpoint so that the core answers 405 in OAuth JSON.
        Route("/token", ep("token"), methods=ALL_METHODS),
        Route("/introspect", ep("introspection"), methods=ALL_METHODS),
        Route("/revoke", ep("revocation"), methods=ALL_METHODS),
        # RFC 7591 / 7592; the core answers 404 while registration is not enabled.
        Route("/register", ep("registration"), methods=ALL_METHODS),
        Route("/register/{client_id}", ep("registration"), methods=ALL_METHODS),
        Route("/healthz", _healthz, methods=["GET"]),
    ]


def _first_full_match(routes: Sequence[BaseRoute], path: str, method: str) -> BaseRoute | None:
    """The route Starlette's router would run for ``method path`` (its first full match)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def direct_routes(routes: Sequence[BaseRoute]) -> Mapping[str, DirectRoute]:
    """Path → (methods, endpoint) for each parameterless OAuth endpoint route, with only the
    methods for which Starlette's router would choose that very route."""
    table: dict[str, DirectRoute] = {}
    for route in routes:
        if not (isinstance(route, Route) and isinstance(route.app, OAuthEndpoint)):
            continue
        if route.param_convertors or route.path in table or not route.methods:
            continue
        methods = frozenset(
            m for m in route.methods if _first_full_match(routes, route.path, m) is route
        )
        if methods:
            table[route.path] = (methods, route.app)
    return table
