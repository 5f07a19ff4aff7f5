"""create_app(): the Starlette application for both listeners.

The certificate-source middleware runs first (TLS extension, or a trusted proxy's header), then
the routes hand requests to the core Provider through the adapter. 404/405 from routing and any
HTTP error answer in OAuth JSON, never HTML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response

from certbound.certsource.middleware import ClientCertificateMiddleware
from certbound.certsource.trusted_proxy import TrustedProxies
from certbound.core.errors import InvalidRequestError, MethodNotAllowedError, NotFoundError
from certbound.server.adapter import EndpointHandler, error_response
from certbound.server.routes import build_routes

__all__ = ["create_app"]


async def _http_error(_: StarletteRequest, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(NotFoundError("no such endpoint"))
    if status == 405:
        return error_response(MethodNotAllowedError("method not allowed on this endpoint"))
    err = InvalidRequestError(str(getattr(exc, "detail", "bad request")))
    return error_response(err)


def create_app(
    provider: Callable[[], EndpointHandler],
    *,
    trusted_proxies: TrustedProxies,
    max_body: int = 64 * 1024,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    header_sources: Sequence[str] = ("rfc9440", "nginx", "xfcc"),
) -> Starlette:
    """The ASGI app. ``provider`` returns the current core Provider (swapped on reload)."""

    @asynccontextmanager
    async def no_lifespan(_: Starlette) -> AsyncIterator[None]:
        yield

    return Starlette(
        routes=build_routes(provider, max_body=max_body),
        middleware=[
            Middleware(
                ClientCertificateMiddleware,
                trusted_proxies=trusted_proxies,
                header_sources=tuple(header_sources),
            )
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan or no_lifespan,
    )
