"""Per-connection TLS: the ASGI TLS extension for uvicorn, trust switching, failure logging.

uvicorn does not set ``scope["extensions"]["tls"]`` (ASGI TLS extension, spec 2.3). The protocol
subclasses here compute it once per connection, right after the handshake, from the transport's
``ssl_object`` and attach a fresh copy to every request scope on that connection:
``client_cert_chain`` (PEM, leaf first, as the client sent it: RFC 8705 §2 input, not a verdict),
``tls_version`` (e.g. ``0x0304``), ``cipher_suite`` (the 16-bit IANA value) and ``server_cert``
(``None``: certbound's app does not need it).

Two I/O shortcuts (``_wireio``) keep the per-request cost of a keep-alive connection low:
:class:`BufferedTlsHttpToolsProtocol` lets the TLS transport decrypt into one reused buffer (the
plain-protocol path allocates, resizes and frees a 256 KiB bytes object per read: three system
calls), and the protocol's transport sends the response head and body written in one event-loop
step as one TLS record and one ``send`` instead of two.
"""

from __future__ import annotations

import _ssl
import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from certbound.server._wireio import CoalescingTransport, read_buffer

__all__ = [
    "AuditedSSLObject",
    "BufferedTlsHttpToolsProtocol",
    "ConnectionTls",
    "TlsH11Protocol",
    "TlsHttpToolsProtocol",
    "connection_tls",
    "peer_chain_pem",
    "switching_context",
]

logger = logging.getLogger("certbound.tls")

_TLS_VERSIONS = {"TLSv1.3": 0x0304, "TLSv1.2": 0x0303, "TLSv1.1": 0x0302, "TLSv1": 0x0301}
_CIPHER_IDS: dict[str, int] = {}  # OpenSSL cipher name -> IANA id; filled lazily

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[Any]]
_Send = Callable[[Any], Awaitable[None]]
_App = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class AuditedSSLObject(ssl.SSLObject):
    """``SSLContext.sslobject_class`` that logs every failed handshake (a security signal).

    asyncio and uvloop report TLS errors only in loop debug mode and never to the app protocol,
    so the failure is caught where OpenSSL raises it. The peer address is not reachable from here.
    """

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            reason = exc.reason or type(exc).__name__
            detail = getattr(exc, "verify_message", None)
            logger.warning(
                "tls_handshake_failed reason=%s detail=%s",
                reason,
                detail,
                extra={"event": "tls_handshake_failed", "reason": reason, "detail": detail},
            )
            raise


def switching_context(current: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """The listener context: every handshake moves to ``current()`` in the SNI callback.

    OpenSSL calls the callback for every ClientHello, with or without SNI. The verify mode stays
    the listener's (it is fixed per connection), so ``current()`` must return contexts built with
    the same ``require_client_cert``. A failing ``current()`` aborts the handshake.
    """
    listener = current()

    def on_client_hello(
        ssl_object: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext
    ) -> int | None:
        try:
            fresh = current()
        except Exception:
            logger.exception("tls_context_unavailable", extra={"event": "tls_context_unavailable"})
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        if fresh is not ctx:
            ssl_object.context = fresh
        return None

    listener.sni_callback = on_client_hello
    return listener


def peer_chain_pem(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> tuple[str, ...]:
    """The chain the peer sent, leaf first, as PEM; empty when it sent no certificate.

    Python 3.13 has the public ``get_unverified_chain()`` (it raises when no certificate was
    sent); 3.11 and 3.12 reach the same OpenSSL call through the private ``_sslobj``. If neither
    exists, the leaf alone is returned.
    """
    leaf = ssl_object.getpeercert(binary_form=True)
    if leaf is None:
        return ()
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        ders: list[bytes] = list(public())
    else:
        private = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
        chain = private() if private is not None else None
        ders = [c.public_bytes(_ssl.ENCODING_DER) for c in chain] if chain else [leaf]
    if ders[0] != leaf:  # the server side inserts the leaf itself; never trust a surprise
        ders = [leaf]
    return tuple(ssl.DER_cert_to_PEM_cert(d) for d in ders)


def _cipher_suite_id(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> int | None:
    cipher = ssl_object.cipher()
    if cipher is None:
        return None
    name = cipher[0]
    if name not in _CIPHER_IDS:
        for entry in ssl_object.context.get_ciphers():
            _CIPHER_IDS[entry["name"]] = entry["id"] & 0xFFFF
    return _CIPHER_IDS.get(name)


@dataclass(frozen=True, slots=True)
class ConnectionTls:
    """What one TLS connection tells the app; computed once, right after the handshake."""

    client_cert_chain: tuple[str, ...]
    tls_version: int | None
    cipher_suite: int | None

    def extension(self) -> dict[object, object]:
        """A fresh ASGI ``tls`` extension dict for one request (the app may mutate it)."""
        return {
            "server_cert": None,
            "client_cert_chain": list(self.client_cert_chain),
            "tls_version": self.tls_version,
            "cipher_suite": self.cipher_suite,
        }


def connection_tls(transport: asyncio.BaseTransport) -> ConnectionTls | None:
    """Read the TLS facts of a connection; ``None`` for a plain-TCP transport."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    version = ssl_object.version()
    return ConnectionTls(
        client_cert_chain=peer_chain_pem(ssl_object),
        tls_version=_TLS_VERSIONS.get(version) if version else None,
        cipher_suite=_cipher_suite_id(ssl_object),
    )


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding ``scope["extensions"]["tls"]`` to each request."""

    _tls: ConnectionTls | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._tls = connection_tls(transport)
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()  # builds self.scope for the new request
        if self._tls is not None:
            self.scope.setdefault("extensions", {})["tls"] = self._tls.extension()


class BufferedTlsHttpToolsProtocol(asyncio.BufferedProtocol):
    """:class:`TlsHttpToolsProtocol` behind the buffered-protocol interface (same behaviour).

    uvloop and asyncio decrypt TLS straight into :meth:`get_buffer`'s buffer for a buffered
    protocol; for a plain one (every uvicorn protocol) they allocate 256 KiB per read. The
    uvicorn protocol stays the real protocol (the server tracks it for shutdown); this object
    only forwards the transport's callbacks to it.
    """

    __slots__ = ("protocol",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.protocol = TlsHttpToolsProtocol(*args, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.protocol.connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.connection_lost(exc)

    def get_buffer(self, sizehint: int) -> memoryview:
        return read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.protocol.data_received(read_buffer()[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:  # a transport that ignores get_buffer
        self.protocol.data_received(data)

    def eof_received(self) -> bool | None:
        self.protocol.eof_received()
        return None  # uvicorn's protocol never keeps a half-closed connection open

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()


class _WithTlsExtension:
    """Per-connection ASGI wrapper: h11's protocol builds and dispatches the scope in one step."""

    __slots__ = ("_app", "_tls")

    def __init__(self, app: _App, tls: ConnectionTls) -> None:
        self._app, self._tls = app, tls

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("extensions", {})["tls"] = self._tls.extension()
        await self._app(scope, receive, send)


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding ``scope["extensions"]["tls"]`` to each request."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = connection_tls(transport)
        if tls is not None:
            self.app = _WithTlsExtension(self.app, tls)
