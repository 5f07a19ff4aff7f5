"""Starlette ⇄ core: build a core Request, call the Provider, render its Response.

Every failure leaves here as an OAuth JSON body: ``OAuthError`` as itself, a storage failure as
503 ``temporarily_unavailable``, anything else as a generic 500 ``server_error`` whose traceback
goes to the log only (STYLE.md "six hops", hop 6).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response as StarletteResponse

from certbound.core.errors import (
    OAuthError,
    RequestTooLargeError,
    ServerError,
    TemporarilyUnavailableError,
)
from certbound.core.messages import Request, Response
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.ports import StorageError

__all__ = ["EndpointHandler", "error_response", "oauth_endpoint", "read_body", "render"]

log = logging.getLogger("certbound.server")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class EndpointHandler(Protocol):
    async def handle(self, endpoint: str, request: Request) -> Response: ...


async def read_body(request: StarletteRequest, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) without reading the rest into memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise RequestTooLargeError(f"request body larger than {limit} bytes")
        except ValueError:
            raise RequestTooLargeError("invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def peer_of(request: StarletteRequest) -> PeerCertificate | None:
    """The certificate that the certsource middleware attached (TLS layer or trusted proxy)."""
    peer = request.scope.get("state", {}).get("peer_certificate")
    return peer if isinstance(peer, PeerCertificate) else None


async def to_core(request: StarletteRequest, limit: int) -> Request:
    body = await read_body(request, limit) if request.method in ("POST", "PUT", "PATCH") else b""
    client = request.client
    return Request(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=request.url.query,
        peer=peer_of(request),
        client_address=client.host if client else None,
        base_url=str(request.base_url).rstrip("/"),
    )


def render(response: Response) -> StarletteResponse:
    if response.json is not None:
        return JSONResponse(
            dict(response.json),
            status_code=response.status,
            headers=dict(response.headers),
            media_type=response.media_type,
        )
    return PlainTextResponse(
        response.text or "",
        status_code=response.status,
        headers=dict(response.headers),
        media_type=response.media_type,
    )


def error_response(exc: OAuthError) -> StarletteResponse:
    return JSONResponse(
        exc.body(), status_code=exc.status_code, headers={**NO_STORE, **exc.headers()}
    )


def oauth_endpoint(
    provider: Callable[[], EndpointHandler], endpoint: str, *, max_body: int
) -> Callable[[StarletteRequest], Awaitable[StarletteResponse]]:
    """A Starlette endpoint that hands the request to ``provider().handle(endpoint, …)``."""

    async def handler(request: StarletteRequest) -> StarletteResponse:
        try:
            core_request = await to_core(request, max_body)
            return render(await provider().handle(endpoint, core_request))
        except OAuthError as exc:
            return error_response(exc)
        except ClientDisconnect:
            return PlainTextResponse("", status_code=400)
        except StorageError as exc:
            log.error("storage unavailable on %s: %s", endpoint, exc)
            return error_response(
                TemporarilyUnavailableError("the service is temporarily unavailable")
            )
        except Exception:
            log.exception("unexpected error on %s", endpoint)
            return error_response(ServerError("internal error"))

    handler.__name__ = f"{endpoint}_endpoint"
    return handler
