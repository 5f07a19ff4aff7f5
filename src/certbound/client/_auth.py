"""Tokens for API calls: fetched with the client certificate, cached, renewed, retried once.

:class:`TokenSource` discovers the server once, then requests client credentials tokens from the
token endpoint (its RFC 8705 §5 mTLS alias when listed) over the same certificate the API calls
use. A token is reused until ``expires_in`` minus a margin of max(30 s, 10 %), capped at half
the lifetime so that short-lived tokens are reused at all; without ``expires_in`` it is reused
until an API rejects it. Renewal is single-flight: threads (one lock) and tasks (one
``asyncio.Lock``, so one event loop per source) wait for the one request in progress.

:class:`ClientCredentialsAuth` is the ``httpx.Auth``: it sends ``Authorization: Bearer``
(RFC 6750 §2.1) and, on a 401 whose ``WWW-Authenticate: Bearer`` challenge says
``error="invalid_token"`` (RFC 6750 §3.1), gets a fresh token and retries once.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from dataclasses import dataclass

import httpx

from certbound.client._metadata import ServerMetadata, discovery_flow
from certbound.client._tls import ClientIdentity
from certbound.client._token import TokenResponse, token_flow
from certbound.client._transport import (
    AsyncExplainingTransport,
    ExplainingTransport,
    arun_flow,
    run_flow,
)

__all__ = ["ClientCredentialsAuth", "TokenSource", "bearer_error", "refresh_margin"]

Clock = Callable[[], float]
AS_ROLE = "authorization server"
DEFAULT_TIMEOUT = 10.0

# One challenge item: an auth-scheme (no "="), or an auth-param name=value (RFC 9110 §11.2).
_ITEM = re.compile(r'([^\s,=]+)(\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?')


def refresh_margin(expires_in: int) -> float:
    """Seconds before expiry at which a token is renewed: max(30, 10 %), at most half of it."""
    return min(max(30.0, expires_in / 10), expires_in / 2)


def bearer_error(challenges: Iterable[str]) -> str | None:
    """The ``error`` of the ``Bearer`` challenge in ``WWW-Authenticate`` values (RFC 6750 §3)."""
    for header in challenges:
        scheme = None
        for match in _ITEM.finditer(header):
            name, has_value, quoted, bare = match.groups()
            if not has_value:
                scheme = name.lower()
            elif scheme == "bearer" and name.lower() == "error":
                return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return None


@dataclass(frozen=True, slots=True)
class _Cached:
    token: TokenResponse
    fresh_until: float | None  # clock reading; None: no expires_in, reuse until rejected

    def reusable(self, now: float, stale: str | None) -> bool:
        if stale is not None and self.token.access_token == stale:
            return False
        return self.fresh_until is None or now < self.fresh_until


class TokenSource:
    """Client credentials tokens for one client, from the issuer's (aliased) token endpoint.

    ``http`` / ``async_http`` replace the HTTP clients built from ``ssl_context`` (they must
    present the same certificate); the source closes only the clients it built.
    """

    def __init__(
        self,
        issuer: str,
        *,
        client_id: str,
        ssl_context: ssl.SSLContext,
        identity: ClientIdentity | None = None,
        scope: str | None = None,
        clock: Clock = time.monotonic,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.issuer, self.client_id, self.scope = issuer, client_id, scope
        self._context, self._identity = ssl_context, identity
        self._clock, self._timeout = clock, timeout
        self._http, self._own_http = http, http is None
        self._async_http, self._own_async_http = async_http, async_http is None
        self._metadata: ServerMetadata | None = None
        self._cached: _Cached | None = None
        self._lock = threading.Lock()
        self._async_lock = asyncio.Lock()

    @property
    def metadata(self) -> ServerMetadata | None:
        """The discovered metadata (None until the first token request)."""
        return self._metadata

    def token_endpoint(self, metadata: ServerMetadata) -> str:
        """RFC 8705 §5: the mTLS alias when listed (a certificate is always presented)."""
        return metadata.endpoint("token_endpoint", mtls=True)

    def discover(self) -> ServerMetadata:
        """The issuer's metadata, fetched once (RFC 8414 §3)."""
        with self._lock:
            return self._discover(self._sync_client())

    async def adiscover(self) -> ServerMetadata:
        async with self._async_lock:
            return await self._adiscover(self._async_client())

    def get_token(self, *, stale: str | None = None) -> TokenResponse:
        """A usable token: the cached one, unless expiring or equal to ``stale`` (rejected)."""
        with self._lock:
            cached = self._cached
            if cached is not None and cached.reusable(self._clock(), stale):
                return cached.token
            http = self._sync_client()
            endpoint = self.token_endpoint(self._discover(http))
            flow = token_flow(endpoint, client_id=self.client_id, scope=self.scope)
            return self._store(run_flow(flow, http))

    async def aget_token(self, *, stale: str | None = None) -> TokenResponse:
        """:meth:`get_token` for async code."""
        async with self._async_lock:
            cached = self._cached
            if cached is not None and cached.reusable(self._clock(), stale):
                return cached.token
            http = self._async_client()
            endpoint = self.token_endpoint(await self._adiscover(http))
            flow = token_flow(endpoint, client_id=self.client_id, scope=self.scope)
            return self._store(await arun_flow(flow, http))

    def invalidate(self) -> None:
        """Forget the cached token (the next call requests a new one)."""
        self._cached = None

    def close(self) -> None:
        if self._own_http and self._http is not None:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        self.close()
        if self._own_async_http and self._async_http is not None:
            await self._async_http.aclose()
            self._async_http = None

    def _discover(self, http: httpx.Client) -> ServerMetadata:
        if self._metadata is None:
            self._metadata = run_flow(discovery_flow(self.issuer), http)
        return self._metadata

    async def _adiscover(self, http: httpx.AsyncClient) -> ServerMetadata:
        if self._metadata is None:
            self._metadata = await arun_flow(discovery_flow(self.issuer), http)
        return self._metadata

    def _store(self, token: TokenResponse) -> TokenResponse:
        fresh_until = None
        if token.expires_in is not None:
            fresh_until = self._clock() + token.expires_in - refresh_margin(token.expires_in)
        self._cached = _Cached(token, fresh_until)
        return token

    def _sync_client(self) -> httpx.Client:
        if self._http is None:
            inner = httpx.HTTPTransport(verify=self._context)
            transport = ExplainingTransport(inner, role=AS_ROLE, identity=self._identity)
            self._http = httpx.Client(transport=transport, timeout=self._timeout)
        return self._http

    def _async_client(self) -> httpx.AsyncClient:
        if self._async_http is None:
            inner = httpx.AsyncHTTPTransport(verify=self._context)
            transport = AsyncExplainingTransport(inner, role=AS_ROLE, identity=self._identity)
            self._async_http = httpx.AsyncClient(transport=transport, timeout=self._timeout)
        return self._async_http


class ClientCredentialsAuth(httpx.Auth):
    """``httpx.Auth`` sending the source's Bearer token; one retry on ``invalid_token``."""

    requires_request_body = True  # the body is replayed on the retry

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        token = self.source.get_token()
        response = yield _with_token(request, token)
        if _rejected(response):
            yield _with_token(request, self.source.get_token(stale=token.access_token))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        token = await self.source.aget_token()
        response = yield _with_token(request, token)
        if _rejected(response):
            yield _with_token(request, await self.source.aget_token(stale=token.access_token))


def _with_token(request: httpx.Request, token: TokenResponse) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token.access_token}"
    return request


def _rejected(response: httpx.Response) -> bool:
    """RFC 6750 §3.1: 401 with ``error="invalid_token"`` (expired, revoked, not bound here...)."""
    challenges = response.headers.get_list("www-authenticate")
    return response.status_code == 401 and bearer_error(challenges) == "invalid_token"
