"""ASGI ⇄ core: build a core Request, call the Provider, send its Response.

Every failure leaves here as an OAuth JSON body: ``OAuthError`` as itself, a storage failure as
503 ``temporarily_unavailable``, anything else as a generic 500 ``server_error`` whose traceback
goes to the log only (STYLE.md "six hops", hop 6).

An endpoint is a plain ASGI app (:class:`OAuthEndpoint`): the scope already holds everything the
core needs, so no framework request object is built on the token endpoint's hot path. The values
are the ones Starlette's ``Request`` gives (``url.path``, ``url.query``, ``base_url``, headers,
``stream()``); the rare inputs where Starlette's URL parsing could differ from the raw scope (a
query string, ``?``/``#``/``\\`` in the path) are computed through Starlette itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from starlette.datastructures import URL
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send

from certbound._json import dumps
from certbound.core.errors import (
    OAuthError,
    RequestTooLargeError,
    ServerError,
    TemporarilyUnavailableError,
)
from certbound.core.messages import Request, Response
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.ports import StorageError

__all__ = [
    "EndpointHandler",
    "OAuthEndpoint",
    "RawResponse",
    "error_response",
    "oauth_endpoint",
    "peer_of",
    "raw_response",
    "read_body",
    "to_core",
]

log = logging.getLogger("certbound.server")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_URL_SPECIAL = frozenset("?#\\\t\r\n")  # Starlette's URL/urlsplit alter these
_BASE_URLS: dict[tuple[Any, ...], str] = {}  # (scheme, host header, server, root) -> base URL
_BASE_URLS_MAX = 64  # the Host header is the client's: keep the memo small


class EndpointHandler(Protocol):
    async def handle(self, endpoint: str, request: Request) -> Response: ...


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first raw header ``name`` (as Starlette's ``Headers.get``), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def peer_of(request: StarletteRequest) -> PeerCertificate | None:
    """The certificate that the certsource middleware attached (TLS layer or trusted proxy)."""
    return _peer(request.scope)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) without reading the rest into memory;
    ``ClientDisconnect`` when the client goes away first (as Starlette's ``stream()``)."""
    declared = _header(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared.decode("latin-1")) > limit:
                raise RequestTooLargeError(f"request body larger than {limit} bytes")
        except ValueError:
            raise RequestTooLargeError("invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        more = bool(message.get("more_body", False))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _path(scope: Scope) -> str:
    path: str = scope["path"]
    if path.startswith("//") or not _URL_SPECIAL.isdisjoint(path):
        return URL(scope=scope).path
    return path


def _base_url(scope: Scope) -> str:
    """``str(request.base_url)`` without its trailing slash, memoised per host and listener."""
    root = scope.get("app_root_path", scope.get("root_path", ""))
    key = (scope.get("scheme", "http"), _header(scope, b"host"), scope.get("server"), root)
    base = _BASE_URLS.get(key)
    if base is None:
        path = root if root.endswith("/") else root + "/"
        base_scope = {**scope, "path": path, "query_string": b"", "root_path": root}
        base = str(URL(scope=base_scope)).rstrip("/")
        if len(_BASE_URLS) >= _BASE_URLS_MAX:
            _BASE_URLS.clear()
        _BASE_URLS[key] = base
    return base


def _peer(scope: Scope) -> PeerCertificate | None:
    """The certificate that the certsource middleware attached (TLS layer or trusted proxy)."""
    peer = scope.get("state", {}).get("peer_certificate")
    return peer if isinstance(peer, PeerCertificate) else None


async def to_core(scope: Scope, receive: Receive, limit: int) -> Request:
    """The core Request for an ASGI HTTP request, reading its body (see the module docstring)."""
    method: str = scope["method"]
    body = await read_body(scope, receive, limit) if method in _BODY_METHODS else b""
    client = scope.get("client")
    return Request(
        method=method,
        path=_path(scope),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
        body=body,
        query=URL(scope=scope).query if scope.get("query_string") else "",
        peer=_peer(scope),
        client_address=client[0] if client is not None else None,
        base_url=_base_url(scope),
    )


class RawResponse:
    """A finished response as the two ASGI messages Starlette's ``JSONResponse`` /
    ``PlainTextResponse`` would send for it (same body bytes and headers, in the same order),
    built without a Starlette response object: the token endpoint's hot path."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def raw_response(response: Response) -> RawResponse:
    """The core's response as the messages Starlette's ``JSONResponse`` (a JSON body) or
    ``PlainTextResponse`` (a text body) would send, with the response's media type."""
    if response.json is not None:
        body = dumps(response.json)
        media_type = response.media_type or JSONResponse.media_type
    else:
        body = (response.text or "").encode("utf-8")
        media_type = response.media_type or PlainTextResponse.media_type
    status = response.status
    key = (status, media_type, tuple(response.headers.items()))
    fixed = _HEADERS.get(key)
    if fixed is None:
        fixed = _HEADERS[key] = _fixed_headers(status, media_type, response.headers)
        if len(_HEADERS) > _HEADERS_MAX:
            _HEADERS.pop(next(iter(_HEADERS)))
    given, with_length, tail = fixed
    length = [(b"content-length", str(len(body)).encode("latin-1"))] if with_length else []
    return RawResponse(status, [*given, *length, *tail], body)


_Headers = list[tuple[bytes, bytes]]
_HEADERS: dict[tuple[Any, ...], tuple[_Headers, bool, _Headers]] = {}
_HEADERS_MAX = 256  # the core answers with a handful of header sets


def _fixed_headers(
    status: int, media_type: str, given: Mapping[str, str]
) -> tuple[_Headers, bool, _Headers]:
    """What Starlette sends around the body's ``content-length``: the given headers (encoded),
    whether a content-length follows them, and the content-type that comes last."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in given.items()]
    names = {k for k, _ in headers}
    with_length = b"content-length" not in names and not (status < 200 or status in (204, 304))
    tail = [] if b"content-type" in names else [(b"content-type", media_type.encode("latin-1"))]
    return headers, with_length, tail


def error_response(exc: OAuthError) -> StarletteResponse:
    return JSONResponse(
        exc.body(), status_code=exc.status_code, headers={**NO_STORE, **exc.headers()}
    )


class OAuthEndpoint:
    """An ASGI app that hands each request to ``provider().handle(endpoint, …)``."""

    __slots__ = ("__name__", "_endpoint", "_max_body", "_provider")

    def __init__(
        self, provider: Callable[[], EndpointHandler], endpoint: str, *, max_body: int
    ) -> None:
        self._provider, self._endpoint, self._max_body = provider, endpoint, max_body
        self.__name__ = f"{endpoint}_endpoint"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._respond(scope, receive)
        await response(scope, receive, send)

    async def _respond(self, scope: Scope, receive: Receive) -> RawResponse | StarletteResponse:
        endpoint = self._endpoint
        try:
            core_request = await to_core(scope, receive, self._max_body)
            return raw_response(await self._provider().handle(endpoint, core_request))
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


def oauth_endpoint(
    provider: Callable[[], EndpointHandler], endpoint: str, *, max_body: int
) -> OAuthEndpoint:
    """The ASGI endpoint for ``endpoint`` (Starlette routes treat a non-function as ASGI)."""
    return OAuthEndpoint(provider, endpoint, max_body=max_body)
