"""ASGI middleware: decide which client certificate a request carries, then hide the headers.

For every ``http`` and ``websocket`` scope (others pass through untouched):

1. Certificate headers (RFC 9440, nginx, XFCC and any ``extra_strip_headers``) with a
   non-empty value from a peer that is not in ``trusted_proxies`` are refused: 400
   ``invalid_request`` and a ``cert_header_from_untrusted_peer`` warning. They are never used.
2. A chain in the ASGI TLS extension wins (source TLS). Headers a trusted proxy sent as well
   are ignored (``cert_header_ignored`` warning): the handshake is first-hand evidence.
3. Otherwise, from a trusted proxy, the first present source in ``header_sources`` is used.
4. A malformed value (header or TLS extension) is answered 400 ``invalid_request`` naming
   its origin; the private reason goes to the log (``client_certificate_malformed``), never
   to the client.

A chain from the TLS extension is parsed once: the middleware remembers the
:class:`PeerCertificate` of each distinct chain (keyed by its PEM text, so the result is the
one parsing would give; at most :attr:`ClientCertificateMiddleware.MAX_PEERS`, the oldest
leaving first), and every further request on a keep-alive connection, or on a new connection
with the same certificate, skips the PEM and X.509 decoding and the thumbprint. Malformed
chains and certificates from headers are never remembered.

The app then sees the headers without any certificate header, and
``scope["state"]["peer_certificate"]`` (Starlette's ``request.state.peer_certificate``) set
to a :class:`PeerCertificate` or None; read it with :func:`peer_certificate`.

Mount this where ``scope["client"]`` is still the TCP peer (no X-Forwarded-For rewriting
before it), or a client could borrow a trusted proxy's address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from certbound.core.errors import InvalidRequestError
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from ._forwarded import HEADER_SOURCES, HeaderValues, header_names, read_header_source
from .asgi_tls import chain_key, peer_from_asgi_scope
from .errors import CertificateSourceError
from .nginx import NGINX_HEADER
from .trusted_proxy import TrustedProxies

__all__ = ["PEER_CERTIFICATE", "UNTRUSTED_PEER", "ClientCertificateMiddleware", "peer_certificate"]

PEER_CERTIFICATE = "peer_certificate"
UNTRUSTED_PEER = "client certificate headers are accepted only from trusted proxies"
_TOKEN = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_log = structlog.get_logger("certbound.certsource")


class _RefusedError(Exception):
    """The request must be answered 400 with ``description``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def peer_certificate(scope: Mapping[str, Any]) -> PeerCertificate | None:
    """The certificate the middleware attached to this request's scope, if any."""
    state = scope.get("state")
    value = state.get(PEER_CERTIFICATE) if isinstance(state, Mapping) else None
    return value if isinstance(value, PeerCertificate) else None


def _client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    if isinstance(client, list | tuple) and client and isinstance(client[0], str):
        return client[0]
    return None


def _header_name(name: str) -> str:
    lowered = name.strip().lower()
    if not _TOKEN.fullmatch(lowered):
        raise ValueError(f"not an HTTP header name: {name!r}")
    return lowered


class ClientCertificateMiddleware:
    """Attach the client's :class:`PeerCertificate` (or None) to every HTTP scope."""

    MAX_PEERS = 1024  # distinct TLS chains remembered (see the module docstring)

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: TrustedProxies,
        header_sources: Iterable[CertificateSource | str] = HEADER_SOURCES,
        nginx_header: str = NGINX_HEADER,
        extra_strip_headers: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.nginx_header = _header_name(nginx_header)
        self.header_sources = tuple(CertificateSource(s) for s in header_sources)
        if any(s not in HEADER_SOURCES for s in self.header_sources):
            raise ValueError(f"header_sources may only name {[s.value for s in HEADER_SOURCES]}")
        if len(set(self.header_sources)) != len(self.header_sources):
            raise ValueError("header_sources names a source twice")
        names = [n for s in HEADER_SOURCES for n in header_names(s, self.nginx_header)]
        names += [_header_name(n) for n in extra_strip_headers]
        self.strip_headers = frozenset(n.encode("latin-1") for n in names)
        self._peers: dict[tuple[str, ...], PeerCertificate] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        kept, found = self._split_headers(scope.get("headers", ()))
        try:
            peer = self._resolve(scope, found)
        except _RefusedError as exc:
            await _refuse(scope, send, exc.description)
            return
        inner = dict(scope)
        inner["headers"] = kept
        inner["state"] = {**(scope.get("state") or {}), PEER_CERTIFICATE: peer}
        await self.app(inner, receive, send)

    def _split_headers(
        self, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[list[tuple[bytes, bytes]], dict[str, list[str]]]:
        """(headers without certificate headers, non-empty certificate header values)."""
        kept: list[tuple[bytes, bytes]] = []
        found: dict[str, list[str]] = {}
        for name, value in headers:
            lowered = name.lower()
            if lowered not in self.strip_headers:
                kept.append((name, value))
            elif text := value.decode("latin-1").strip(" \t"):
                found.setdefault(lowered.decode("latin-1"), []).append(text)
        return kept, found

    def _resolve(self, scope: Scope, found: HeaderValues) -> PeerCertificate | None:
        key = None if found else chain_key(scope)
        if key is None:
            return self._decide(scope, found)
        peer = self._peers.get(key)
        if peer is None:
            peer = self._decide(scope, found)
            if peer is not None and peer.source is CertificateSource.TLS:
                if len(self._peers) >= self.MAX_PEERS:
                    del self._peers[next(iter(self._peers))]
                self._peers[key] = peer
        return peer

    def _decide(self, scope: Scope, found: HeaderValues) -> PeerCertificate | None:
        host = _client_host(scope)
        if found and not self.trusted_proxies.contains(host):
            _log.warning("cert_header_from_untrusted_peer", peer=host, headers=sorted(found))
            raise _RefusedError(UNTRUSTED_PEER)
        try:
            tls_peer = peer_from_asgi_scope(scope)
            if tls_peer is not None:
                if found:
                    _log.warning("cert_header_ignored", peer=host, headers=sorted(found))
                return tls_peer
            return self._from_headers(found)
        except CertificateSourceError as exc:
            _log.warning(
                "client_certificate_malformed",
                peer=host,
                origin=exc.origin,
                reason=exc.reason,
                detail=exc.detail,
            )
            raise _RefusedError(str(exc)) from exc

    def _from_headers(self, found: HeaderValues) -> PeerCertificate | None:
        for source in self.header_sources:
            peer = read_header_source(source, found, nginx_header=self.nginx_header)
            if peer is not None:
                return peer
        return None


async def _refuse(scope: Scope, send: Send, description: str) -> None:
    """Answer RFC 6749 §5.2 ``invalid_request`` (a WebSocket is closed with 1008 instead)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(InvalidRequestError(description).body()).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
