"""Per-route scope requirements behind :class:`CertificateBoundTokenMiddleware` (RFC 6750 §3.1).

The middleware has verified the token and its binding; a route then states the scopes it needs:

- Starlette (no dependency injection): decorate the endpoint::

      @requires_scopes("orders:read")
      async def orders(request: Request) -> Response: ...

- FastAPI (not a dependency of certbound): ``token = Depends(require_token("orders:read"))``;
  the callable takes ``request: Request`` and returns the
  :class:`~certbound.resource.verifier.VerifiedAccessToken`.

A missing scope is 403 ``insufficient_scope`` with ``scope="<every required scope>"`` in the
``WWW-Authenticate: Bearer`` challenge. A route reached without the middleware in front of it
raises ``RuntimeError`` (a 500: a deployment error must not look like an open door).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request  # at run time: FastAPI reads the annotation
from starlette.responses import JSONResponse, Response

from certbound.core.errors import InsufficientScopeError
from certbound.core.scopes import SCOPE_TOKEN
from certbound.resource.middleware import access_token, bearer_challenge
from certbound.resource.verifier import VerifiedAccessToken, require_scopes

__all__ = ["Endpoint", "require_token", "requires_scopes"]

Endpoint = Callable[[Request], Awaitable[Response]] | Callable[[Request], Response]
NO_MIDDLEWARE: Final = "no verified access token: put CertificateBoundTokenMiddleware in front"


def _scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"not an RFC 6749 §3.3 scope-token: {scope!r}")
    return tuple(dict.fromkeys(scopes))


def _checked(request: Request, scopes: tuple[str, ...]) -> VerifiedAccessToken:
    token = access_token(request.scope)
    if token is None:
        raise RuntimeError(NO_MIDDLEWARE)
    require_scopes(token, scopes)
    return token


def require_token(
    *scopes: str, realm: str | None = None
) -> Callable[[Request], Awaitable[VerifiedAccessToken]]:
    """A FastAPI-style dependency: the verified token if it has every scope in ``scopes``.

    Raises Starlette's ``HTTPException(403)`` with the RFC 6750 challenge otherwise (FastAPI and
    Starlette both answer it with that header).
    """
    wanted = _scopes(scopes)

    async def verified_access_token(request: Request) -> VerifiedAccessToken:
        try:
            return _checked(request, wanted)
        except InsufficientScopeError as exc:
            raise HTTPException(
                exc.status_code,
                detail=exc.description,
                headers={"WWW-Authenticate": bearer_challenge(realm, exc)},
            ) from None

    return verified_access_token


def requires_scopes(
    *scopes: str, realm: str | None = None
) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    """Decorate a Starlette endpoint (async or sync) so it runs only with every scope in ``scopes``;
    otherwise answer 403 ``insufficient_scope`` with a JSON body and the RFC 6750 challenge."""
    wanted = _scopes(scopes)

    def decorate(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            try:
                _checked(request, wanted)
            except InsufficientScopeError as exc:
                headers = {
                    "WWW-Authenticate": bearer_challenge(realm, exc),
                    "Cache-Control": "no-store",
                }
                return JSONResponse(exc.body(), exc.status_code, headers=headers)
            if inspect.iscoroutinefunction(endpoint):
                response: Response = await endpoint(request)
                return response
            return await run_in_threadpool(endpoint, request)  # type: ignore[arg-type]

        return guarded

    return decorate
