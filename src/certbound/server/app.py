"""create_app(): the ASGI application for both listeners.

The certificate-source middleware runs first (TLS extension, or a trusted proxy's header), then
the routes hand requests to the core Provider through the adapter. 404/405 from routing and any
HTTP error answer in OAuth JSON, never HTML.

The app is a Starlette application with one shortcut: a request for an OAuth endpoint's exact
path with a method that endpoint accepts (``routes.direct_routes``) runs through the same
certificate middleware straight into the endpoint, skipping the router and Starlette's error and
exception middleware (none has anything to do there: the endpoint answers every error itself, and
an exception escaping it anyway gets uvicorn's plain 500, the response Starlette's
``ServerErrorMiddleware`` would send). Everything else — lifespan, 404, 405, redirects,
``/healthz`` — is Starlette's. The certificate middleware parses each distinct TLS chain once
(see :mod:`certbound.certsource.middleware`), so a keep-alive connection parses its client
certificate once, not per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from certbound.certsource.middleware import ClientCertificateMiddleware
from certbound.certsource.trusted_proxy import TrustedProxies
from certbound.core.errors import InvalidRequestError, MethodNotAllowedError, NotFoundError
from certbound.server.adapter import EndpointHandler, error_response
from certbound.server.routes import DirectRoute, build_routes, direct_routes

__all__ = ["CertboundApp", "create_app"]


async def _http_error(_: StarletteRequest, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(NotFoundError("no such endpoint"))
    if status == 405:
        return error_response(MethodNotAllowedError("method not allowed on this endpoint"))
    err = InvalidRequestError(str(getattr(exc, "detail", "bad request")))
    return error_response(err)


class CertboundApp(Starlette):
    """Starlette, plus the direct path to the OAuth endpoints (see the module docstring)."""

    def __init__(self, *, direct: ASGIApp, table: Mapping[str, DirectRoute], **kw: Any) -> None:
        super().__init__(**kw)
        self._direct, self._table = direct, table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path") and not scope.get("query_string"):
            route = self._table.get(scope["path"])
            if route is not None and scope["method"] in route[0]:
                scope["app"] = self
                await self._direct(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    provider: Callable[[], EndpointHandler],
    *,
    trusted_proxies: TrustedProxies,
    max_body: int = 64 * 1024,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    header_sources: Sequence[str] = ("rfc9440", "nginx", "xfcc"),
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app. ``provider`` returns the current core Provider (swapped on reload);
    ``extra_routes`` (e.g. the admin API) are matched after the OAuth endpoints."""

    @asynccontextmanager
    async def no_lifespan(_: Starlette) -> AsyncIterator[None]:
        yield

    routes = [*build_routes(provider, max_body=max_body), *extra_routes]
    table = direct_routes(routes)
    sources = tuple(header_sources)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        await table[scope["path"]][1](scope, receive, send)

    direct = ClientCertificateMiddleware(
        dispatch, trusted_proxies=trusted_proxies, header_sources=sources
    )
    return CertboundApp(
        direct=direct,
        table=table,
        routes=routes,
        middleware=[
            Middleware(
                ClientCertificateMiddleware, trusted_proxies=trusted_proxies, header_sources=sources
            )
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan or no_lifespan,
    )
