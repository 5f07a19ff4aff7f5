"""The admin API: JSON over HTTPS under ``/admin/`` (documented in ``/admin/openapi.json``).

Mounted only when an admin credential is configured (otherwise every ``/admin/`` URL is 404);
every request is authenticated first (:mod:`certbound.server._admin_auth`), before its body is
read. Clients go through the same validation as the CLI and dynamic registration
(:mod:`certbound.core.registration_rules`) as a *trusted* caller, so operator-only
``certbound_*`` metadata may be set here. Trust anchors change the TLS listeners and the core's
chain verifier at once (:mod:`certbound.server._admin_anchors`). Errors are OAuth-shaped JSON:
400 ``invalid_request`` / ``invalid_client_metadata``, 401, 404, 409, 413, 415; storage failures
503; anything else a generic 500 with the traceback in the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import BaseRoute, Route

from certbound.certsource.middleware import peer_certificate
from certbound.config.settings import Settings
from certbound.core.errors import OAuthError, ServerError, TemporarilyUnavailableError
from certbound.core.messages import Request
from certbound.core.ports import StorageError
from certbound.server._admin_auth import AdminCredentials, AdminPrincipal, authenticate_admin
from certbound.server._admin_operations import (
    OPERATIONS,
    PEM_CHAIN_MEDIA_TYPE,
    AdminContext,
    Operation,
)
from certbound.server.adapter import RawResponse, error_response, raw_response, to_core
from certbound.storage.engine import safe_url

__all__ = [
    "OPERATIONS",
    "PEM_CHAIN_MEDIA_TYPE",
    "AdminContext",
    "admin_routes",
    "effective_config",
]

log = logging.getLogger("certbound.server")
audit = structlog.get_logger("certbound.audit")


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings as JSON: secrets redacted (``**********``), database password hidden, plus
    the derived values (issuer, mTLS base URL, database URL)."""
    data = settings.to_json()  # secrets as '**********'
    if settings.storage.database_url is not None:
        data["storage"]["database_url"] = safe_url(settings.storage.database_url)
    data["effective"] = {
        "issuer": settings.issuer,
        "mtls_base_url": settings.mtls_base_url,
        "database_url": safe_url(settings.database_url),
    }
    return data


def _headers_only(request: StarletteRequest) -> Request:
    """What authentication needs, before any body is read."""
    return Request(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        peer=peer_certificate(request.scope),
    )


def _audit(
    method: str,
    path: str,
    status: int,
    who: AdminPrincipal | None,
    error: OAuthError | None = None,
) -> None:
    """One ``admin_request`` audit line per request; never a token, a certificate by x5t#S256."""
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "principal": None if who is None else who.method,
        "certificate": None if who is None else who.name,
    }
    if error is None:
        audit.info("admin_request", **fields)
    else:
        detail = error.detail or error.description
        audit.warning("admin_request", error=error.error, detail=detail, **fields)


def _endpoint(
    path: str,
    methods: Mapping[str, Operation],
    context: Callable[[], AdminContext],
    credentials: AdminCredentials,
    max_body: int,
) -> Callable[[StarletteRequest], Awaitable[RawResponse | StarletteResponse]]:
    async def handler(request: StarletteRequest) -> RawResponse | StarletteResponse:
        who: AdminPrincipal | None = None
        try:
            ctx = context()
            who = authenticate_admin(
                credentials, _headers_only(request), ctx.provider.verifier, ctx.now()
            )
            core = await to_core(request.scope, request.receive, max_body)
            operation = methods["GET" if request.method == "HEAD" else request.method]
            response = await operation(ctx, core, request.path_params)
        except OAuthError as exc:
            _audit(request.method, path, exc.status_code, who, exc)
            return error_response(exc)
        except ClientDisconnect:
            return PlainTextResponse("", status_code=400)
        except StorageError as exc:
            log.error("storage unavailable on %s %s: %s", request.method, path, exc)
            return error_response(
                TemporarilyUnavailableError("the service is temporarily unavailable")
            )
        except Exception:
            log.exception("unexpected error on %s %s", request.method, path)
            return error_response(ServerError("internal error"))
        _audit(request.method, path, response.status, who)
        return raw_response(response)

    return handler


def admin_routes(
    context: Callable[[], AdminContext], credentials: AdminCredentials, *, max_body: int
) -> list[BaseRoute]:
    """The ``/admin/`` routes (empty when no admin credential is configured: 404 everywhere)."""
    if not credentials.enabled:
        return []
    by_path: dict[str, dict[str, Operation]] = {}
    for path, method, operation in OPERATIONS:
        by_path.setdefault(path, {})[method] = operation
    routes: list[BaseRoute] = []
    for path, methods in by_path.items():
        endpoint = _endpoint(path, methods, context, credentials, max_body)
        routes.append(Route(path, endpoint, methods=list(methods)))
    return routes
