"""Sending the client's requests: sans-I/O flows driven sync or async, TLS failures explained.

Discovery and the token request are written once, as generators that yield an
``httpx.Request`` and receive its ``httpx.Response`` (the shape of ``httpx.Auth.auth_flow``);
:func:`run_flow` and :func:`arun_flow` drive them over a sync or an async client.

The explaining transports turn the two handshake failures people actually hit into errors that
name the fix: the server's certificate is not trusted (:class:`ServerNotTrustedError`), and the
server refused the client certificate (:class:`HandshakeRefusedError`). A server that refuses a
client certificate may send an alert, or, as uvicorn does, just close the connection: then TLS
1.2 clients see EOF during the handshake and TLS 1.3 clients (whose handshake had finished) see
the connection closed before any response. Both are read as a refusal only when a client
certificate was presented, and the message says what else it could be.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Generator
from typing import TypeVar

import httpx

from certbound.client._errors import (
    HandshakeRefusedError,
    ServerNotTrustedError,
    TlsHandshakeError,
)
from certbound.client._tls import ClientIdentity

__all__ = [
    "AsyncExplainingTransport",
    "ExplainingTransport",
    "Flow",
    "arun_flow",
    "explain_tls_failure",
    "run_flow",
]

T = TypeVar("T")
Flow = Generator[httpx.Request, httpx.Response, T]

# OpenSSL reasons for alerts a server sends when it does not accept the client certificate.
_REFUSAL_ALERTS = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
)
_EXPIRED, _HOSTNAME_MISMATCH, _IP_MISMATCH = 10, 62, 64  # X509_V_ERR_* verify codes
_REFUSED = (
    "did not accept the client certificate during the TLS handshake "
    "(untrusted issuer, expired, or not registered as self-signed)"
)


def run_flow(flow: Flow[T], http: httpx.Client) -> T:
    """Send each request the flow yields; return what it returns."""
    request = next(flow)
    while True:
        response = http.send(request)
        try:
            request = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result


async def arun_flow(flow: Flow[T], http: httpx.AsyncClient) -> T:
    """:func:`run_flow` over an async client."""
    request = next(flow)
    while True:
        response = await http.send(request)
        try:
            request = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result


def explain_tls_failure(
    exc: httpx.TransportError, *, role: str, identity: ClientIdentity | None, host: str
) -> TlsHandshakeError | None:
    """A named error for a trust or refusal failure; None for anything else (kept as is).

    ``role`` names the peer in the message ("authorization server", "server").
    """
    failure = _ssl_cause(exc)
    if isinstance(failure, ssl.SSLCertVerificationError):
        return _not_trusted(failure, role, host)
    reason = getattr(failure, "reason", None)
    if identity is None:
        if reason in _REFUSAL_ALERTS:
            return HandshakeRefusedError(f"the {role} requires a client certificate: pass one")
        return None
    if reason in _REFUSAL_ALERTS or _closed_early(exc, failure):
        message = f"the {role} {_REFUSED}"
        expiry = identity.leaf.not_valid_after_utc
        if expiry < dt.datetime.now(dt.UTC):
            message += f"; this certificate expired on {expiry:%Y-%m-%d}"
        return HandshakeRefusedError(message)
    return None


def _ssl_cause(exc: BaseException) -> BaseException | None:
    """The ``ssl.SSLError`` or ``OSError`` under httpx's and httpcore's wrappers, if any."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, OSError):  # ssl.SSLError is an OSError
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _not_trusted(
    failure: ssl.SSLCertVerificationError, role: str, host: str
) -> ServerNotTrustedError:
    why = failure.verify_message or "certificate verify failed"
    if failure.verify_code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        return ServerNotTrustedError(f"the {role}'s certificate is not valid for {host} ({why})")
    if failure.verify_code == _EXPIRED:
        return ServerNotTrustedError(f"the {role}'s certificate has expired ({why})")
    return ServerNotTrustedError(
        f"the {role}'s certificate is not trusted ({why}): pass --ca / ca= the CA that issued it"
    )


def _closed_early(exc: httpx.TransportError, failure: BaseException | None) -> bool:
    """The server hung up in or right after the handshake, before any response."""
    if isinstance(failure, ssl.SSLEOFError | ConnectionResetError):
        return True
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc)


class ExplainingTransport(httpx.BaseTransport):
    """Wraps a transport; raises :func:`explain_tls_failure` errors in place of the raw ones."""

    def __init__(
        self, inner: httpx.BaseTransport, *, role: str, identity: ClientIdentity | None
    ) -> None:
        self._inner, self._role, self._identity = inner, role, identity

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except httpx.TransportError as exc:
            explained = explain_tls_failure(
                exc, role=self._role, identity=self._identity, host=request.url.host
            )
            if explained is None:
                raise
            raise explained from exc

    def close(self) -> None:
        self._inner.close()


class AsyncExplainingTransport(httpx.AsyncBaseTransport):
    """:class:`ExplainingTransport` for ``httpx.AsyncClient``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, role: str, identity: ClientIdentity | None
    ) -> None:
        self._inner, self._role, self._identity = inner, role, identity

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            explained = explain_tls_failure(
                exc, role=self._role, identity=self._identity, host=request.url.host
            )
            if explained is None:
                raise
            raise explained from exc

    async def aclose(self) -> None:
        await self._inner.aclose()
