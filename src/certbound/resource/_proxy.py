"""The gateway's forwarding half: one request up to the upstream, its answer streamed back.

RFC 9110 §7.6.1: a proxy does not forward hop-by-hop fields in either direction: ``Connection``,
every field it names, and ``Keep-Alive``, ``Proxy-Connection``, ``Proxy-Authenticate``,
``Proxy-Authorization``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``. ``Host`` is
set from the upstream URL (§7.2) and ``Expect`` is answered by the gateway's own server.

Bodies are streamed both ways: the request body goes up as the client sends it (with its
``Content-Length``, or chunked), the response body comes back chunk by chunk as the upstream
sends it (``aiter_raw``: still content-encoded, so ``Content-Length`` stays true).

Failures before the answer starts are JSON: the upstream cannot be reached or breaks the
exchange → 502 ``bad_gateway``; it does not answer in time → 504 ``gateway_timeout``. A failure
while the body streams back can only cut the connection (the status is already sent).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Final

import httpx
import structlog
from starlette.types import Receive, Scope, Send

__all__ = [
    "BAD_GATEWAY",
    "GATEWAY_TIMEOUT",
    "HOP_BY_HOP",
    "RawHeaders",
    "UpstreamProxy",
    "hop_by_hop_names",
    "json_answer",
    "request_headers",
    "upstream_url",
]

RawHeaders = list[tuple[bytes, bytes]]
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_NOT_FORWARDED_UP: Final = frozenset({b"host", b"expect"})
BAD_GATEWAY: Final = "the upstream service cannot be reached"
GATEWAY_TIMEOUT: Final = "the upstream service did not answer in time"
_log = structlog.get_logger("certbound.gateway")


class _ClientGoneError(Exception):
    """The client disconnected while its request body was being forwarded."""


def hop_by_hop_names(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The fixed hop-by-hop names plus those listed in ``Connection`` (lower-cased)."""
    listed = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return HOP_BY_HOP | frozenset(t for t in listed if t)


def upstream_url(base: str, scope: Scope) -> httpx.URL:
    """``base`` (no trailing '/') + the request's path as received + its query string."""
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    if not path.startswith("/"):
        path = "/" + path
    query = scope.get("query_string", b"").decode("latin-1")
    return httpx.URL(base + path + ("?" + query if query else ""))


async def json_answer(
    send: Send, status: int, body: dict[str, str], headers: Sequence[tuple[str, str]] = ()
) -> None:
    """A complete JSON answer, never cached."""
    data = json.dumps(body).encode("utf-8")
    raw = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(data)).encode("ascii")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """RFC 9112 §6.3: a request has a body only with Content-Length or Transfer-Encoding."""
    return any(n.lower() in (b"content-length", b"transfer-encoding") for n, _ in headers)


class UpstreamProxy:
    """Forward requests to ``base`` with an ``httpx.AsyncClient`` (no redirects followed)."""

    def __init__(self, base: str, client: httpx.AsyncClient) -> None:
        self.base, self._client = base.rstrip("/"), client

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, headers: RawHeaders
    ) -> None:
        """Send ``scope``'s request with ``headers`` (already filtered) and stream the answer."""
        incoming = scope.get("headers", ())
        content = _request_body(receive) if _has_body(incoming) else None
        request = httpx.Request(
            scope["method"], upstream_url(self.base, scope), headers=headers, content=content
        )
        try:
            response = await self._client.send(request, stream=True)
        except _ClientGoneError:
            return
        except httpx.TimeoutException as exc:
            _log.warning("upstream_timeout", url=str(request.url), error=type(exc).__name__)
            await json_answer(
                send, 504, {"error": "gateway_timeout", "error_description": GATEWAY_TIMEOUT}
            )
            return
        except httpx.HTTPError as exc:
            _log.warning("upstream_unreachable", url=str(request.url), error=repr(exc))
            await json_answer(send, 502, {"error": "bad_gateway", "error_description": BAD_GATEWAY})
            return
        try:
            await self._stream_back(response, send)
        finally:
            await response.aclose()

    async def _stream_back(self, response: httpx.Response, send: Send) -> None:
        raw = [(n.lower(), v) for n, v in response.headers.raw]
        skip = hop_by_hop_names(raw)
        headers = [(n, v) for n, v in raw if n not in skip]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        try:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            # The status is out: all that is left is to cut the connection (the server does
            # so when the app returns without finishing the body), never to end it cleanly.
            _log.warning("upstream_body_failed", url=str(response.url), error=repr(exc))
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def request_headers(
    scope: Scope, *, drop: frozenset[bytes], drop_prefixes: tuple[bytes, ...]
) -> RawHeaders:
    """The request's headers minus hop-by-hop fields, ``Host``, ``Expect`` and ``drop``."""
    incoming = list(scope.get("headers", ()))
    skip = hop_by_hop_names(incoming) | _NOT_FORWARDED_UP | drop
    return [
        (n.lower(), v)
        for n, v in incoming
        if n.lower() not in skip and not n.lower().startswith(drop_prefixes)
    ]
