"""Fetching a client's ``jwks_uri`` (RFC 8705 §2.2, RFC 7591 §2): the ``JwksFetcher`` adapter.

The URI is chosen by the client, so the fetch is a server-side request forgery vector. The rules:

- ``https`` only, no userinfo; redirects are not followed; no proxy from the environment.
- The host is resolved first (``loop.getaddrinfo``); if *any* address is not globally routable
  (loopback, private, link-local, unspecified, shared, reserved, multicast; IPv4-mapped IPv6
  unwrapped first) the fetch is refused, unless ``allow_private=True`` (tests and labs).
- The connection then goes to the checked address itself: the request URL carries the IP, while
  the ``Host`` header and the TLS SNI / certificate name check keep the original host name (httpx
  ``sni_hostname`` extension). A DNS answer that changes between the check and the connection
  (DNS rebinding) therefore cannot redirect the fetch. Residual: a name whose *checked* answer is
  public but which routes internally (split-horizon networks) is out of reach of any such check;
  run the AS with egress filtering where that matters.
- 5 s total time, 64 KiB body (``Accept-Encoding: identity``, counted on the wire, streamed and cut
  off), one fresh connection per fetch (no pooled connection is reused across host names).
- The body must be a JSON object with a ``keys`` array (RFC 7517 §5).

Caching: per URI, for the response's ``Cache-Control: max-age`` clamped to [60 s, 24 h] (5 min
when absent or unparsable; ``no-store``/``no-cache`` count as the 60 s floor). ``force=True`` (an
unknown certificate was presented) refetches at most once per 30 s per URI; inside that window the
cached set is returned. A failed fetch is remembered for the same 30 s and re-raised, so a broken
or slow ``jwks_uri`` cannot make each token request hit it again. Concurrent fetches of one URI
share one request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from certbound.core.ports import JwksFetcher, JwksFetchError

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpJwksFetchError", "HttpJwksFetcher", "JwksFetchFailure", "Resolver"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MIN_TTL: Final = 60.0
MAX_TTL: Final = 24 * 3600.0
DEFAULT_TTL: Final = 300.0
MIN_REFETCH_INTERVAL: Final = 30.0


class JwksFetchFailure(StrEnum):
    NOT_HTTPS = "not_https"
    INVALID_URI = "invalid_uri"
    RESOLVE_FAILED = "resolve_failed"
    PRIVATE_ADDRESS = "private_address"
    CONNECT_FAILED = "connect_failed"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    CONTENT_ENCODING = "content_encoding"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_JWKS = "not_jwks"
    TRANSPORT = "transport"


class HttpJwksFetchError(JwksFetchError):
    """A failed fetch; ``reason`` says why, the message says ``reason: detail``."""

    def __init__(self, reason: JwksFetchFailure, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Entry:
    document: Mapping[str, Any]
    fetched_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Failure:
    error: HttpJwksFetchError
    at: float


async def _system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_public(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _max_age(cache_control: str | None) -> float:
    """``max-age`` of a Cache-Control header clamped to [MIN_TTL, MAX_TTL] (RFC 9111 §5.2.2.1)."""
    ttl = DEFAULT_TTL
    for directive in (cache_control or "").lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return MIN_TTL
        if name == "max-age":
            try:
                ttl = float(int(value.strip().strip('"')))
            except ValueError:
                ttl = DEFAULT_TTL
    return min(max(ttl, MIN_TTL), MAX_TTL)


def _parse_jwks(body: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        raise HttpJwksFetchError(JwksFetchFailure.NOT_JSON, "the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise HttpJwksFetchError(JwksFetchFailure.NOT_JWKS, "not a JWK Set (no 'keys' array)")
    return MappingProxyType(document)


class HttpJwksFetcher(JwksFetcher):
    """Fetches and caches JWK Sets over https with the SSRF rules of the module docstring."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 5.0,
        max_bytes: int = 64 * 1024,
        clock: Callable[[], float] = time.monotonic,
        resolver: Resolver = _system_resolver,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        self._resolver = resolver
        self._cache: dict[str, _Entry] = {}
        self._failures: dict[str, _Failure] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._verify = verify
        self._http: httpx.AsyncClient | None = None  # made (and httpx imported) on first fetch

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                verify=self._verify,
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._http

    async def __aenter__(self) -> HttpJwksFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def fetch(self, uri: str, *, force: bool = False) -> Mapping[str, Any]:
        """The JWK Set at ``uri`` (cached); ``HttpJwksFetchError`` when it cannot be had."""
        started = self._clock()
        if (document := self._cached(uri, force, started)) is not None:
            return document
        async with self._locks.setdefault(uri, asyncio.Lock()):
            entry = self._cache.get(uri)
            if entry is not None and entry.fetched_at >= started:
                return entry.document  # fetched by a concurrent caller while we waited
            if (failure := self._failures.get(uri)) is not None and failure.at >= started:
                raise failure.error
            return await self._refresh(uri)

    def _cached(self, uri: str, force: bool, now: float) -> Mapping[str, Any] | None:
        """The cached set if it may be used now; raises a remembered recent failure."""
        entry = self._cache.get(uri)
        if entry is not None:
            if not force and now < entry.expires_at:
                return entry.document
            if force and now - entry.fetched_at < MIN_REFETCH_INTERVAL:
                return entry.document  # forced refetches are rate-limited
        failure = self._failures.get(uri)
        if failure is not None and now - failure.at < MIN_REFETCH_INTERVAL:
            raise failure.error
        return None

    async def _refresh(self, uri: str) -> Mapping[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                document, ttl = await self._download(uri)
        except TimeoutError:
            error = HttpJwksFetchError(JwksFetchFailure.TIMEOUT, f"no answer in {self._timeout} s")
            self._failures[uri] = _Failure(error, self._clock())
            raise error from None
        except HttpJwksFetchError as exc:
            self._failures[uri] = _Failure(exc, self._clock())
            raise
        now = self._clock()
        self._failures.pop(uri, None)
        self._cache[uri] = _Entry(document, now, now + ttl)
        return document

    async def _download(self, uri: str) -> tuple[Mapping[str, Any], float]:
        import httpx

        url, host, port = self._parse_uri(uri)
        addresses = await self._addresses(host, port)
        errors: list[str] = []
        for address in addresses:
            try:
                return await self._get(url.copy_with(host=str(address)), url, host)
            except httpx.ConnectError as exc:  # refused, unreachable, TLS failure: next address
                errors.append(f"{address}: {exc}")
        raise HttpJwksFetchError(JwksFetchFailure.CONNECT_FAILED, "; ".join(errors))

    @staticmethod
    def _parse_uri(uri: str) -> tuple[httpx.URL, str, int]:
        import httpx

        try:
            parts = urlsplit(uri)
            port = parts.port or 443
            url = httpx.URL(uri)
        except (ValueError, httpx.InvalidURL) as exc:
            raise HttpJwksFetchError(JwksFetchFailure.INVALID_URI, str(exc)) from None
        if parts.scheme != "https":
            raise HttpJwksFetchError(JwksFetchFailure.NOT_HTTPS, f"{uri!r} is not https")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise HttpJwksFetchError(JwksFetchFailure.INVALID_URI, f"{uri!r}: no host or userinfo")
        return url, parts.hostname, port

    async def _addresses(self, host: str, port: int) -> list[_IPAddress]:
        try:
            found = [
                ipaddress.ip_address(a.split("%", 1)[0]) for a in await self._resolver(host, port)
            ]
        except (OSError, UnicodeError, ValueError) as exc:
            raise HttpJwksFetchError(JwksFetchFailure.RESOLVE_FAILED, f"{host}: {exc}") from None
        if not found:
            raise HttpJwksFetchError(JwksFetchFailure.RESOLVE_FAILED, f"{host}: no address")
        refused = [str(a) for a in found if not _is_public(a)]
        if refused and not self._allow_private:
            raise HttpJwksFetchError(
                JwksFetchFailure.PRIVATE_ADDRESS,
                f"{host} resolves to a non-public address ({', '.join(refused)})",
            )
        return found

    async def _get(
        self, target: httpx.URL, url: httpx.URL, host: str
    ) -> tuple[Mapping[str, Any], float]:
        import httpx

        headers = {
            "Host": url.netloc.decode("ascii"),
            "Accept": "application/jwk-set+json, application/json",
            "Accept-Encoding": "identity",
        }
        try:
            async with self._client().stream(
                "GET", target, headers=headers, extensions={"sni_hostname": host}
            ) as response:
                body = await self._read_body(response)
                ttl = _max_age(response.headers.get("cache-control"))
        except httpx.TimeoutException:
            raise HttpJwksFetchError(
                JwksFetchFailure.TIMEOUT, f"no answer in {self._timeout} s"
            ) from None
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            raise HttpJwksFetchError(
                JwksFetchFailure.TRANSPORT, f"{type(exc).__name__}: {exc}"
            ) from None
        return _parse_jwks(body), ttl

    async def _read_body(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise HttpJwksFetchError(JwksFetchFailure.HTTP_STATUS, f"HTTP {response.status_code}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise HttpJwksFetchError(
                JwksFetchFailure.CONTENT_ENCODING, f"content-encoding {encoding}"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise HttpJwksFetchError(JwksFetchFailure.TOO_LARGE, f"Content-Length {declared}")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self._max_bytes:
                raise HttpJwksFetchError(
                    JwksFetchFailure.TOO_LARGE, f"body larger than {self._max_bytes} bytes"
                )
        return bytes(body)
