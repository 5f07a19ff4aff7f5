"""The issuer's signing keys, as a resource server needs them (RFC 8414 §2 ``jwks_uri``, RFC 7517).

:class:`RemoteJwks` discovers the issuer's metadata (see ``_discovery``), fetches its JWK Set and
keeps it for ``ttl`` seconds (default 300). A token whose ``kid`` is not in the set (the AS rotated
its keys) makes it fetch the JWK Set again, at most once per ``refetch_interval`` (default 30 s) so
that tokens with made-up ``kid`` values cannot make the resource server hammer the AS; a ``kid``
still unknown after that is ``invalid_token``.

When the AS cannot be reached: without any key set yet, :class:`ResourceServerUnavailableError`
(answered 503). After a failure no new attempt is made for ``failure_backoff`` seconds (each
request would otherwise wait for the timeout). A key set past its ``ttl`` is still used while the
AS is unreachable, for at most ``max_stale`` seconds past its expiry (default one hour); each
failed attempt logs ``jwks_unavailable``. A short AS outage does not take the resources down.

Keys marked ``use: enc`` and symmetric (``oct``) keys are ignored; so is a key joserfc cannot
import (logged). Concurrent refreshes share one fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol

import structlog
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, KeySet

from certbound.core.errors import InvalidTokenError
from certbound.resource._discovery import (
    ClientCert,
    Verify,
    check_issuer_url,
    client_ssl_context,
    fetch_metadata,
    get_json,
    http_client,
)
from certbound.resource.errors import ResourceServerUnavailableError

__all__ = ["UNKNOWN_KEY", "KeySource", "RemoteJwks"]

UNKNOWN_KEY: Final = "the token was signed with an unknown key (kid)"
_SIGNATURE_KTY: Final = frozenset({"EC", "RSA", "OKP"})
_log = structlog.get_logger("certbound.resource")


class KeySource(Protocol):
    """Where a verifier gets the issuer's public keys."""

    @property
    def issuer(self) -> str: ...

    async def key_set(self, kid: str | None = None) -> KeySet:
        """The keys to verify a token with ``kid``; ``invalid_token`` when ``kid`` is unknown."""
        ...

    async def aclose(self) -> None:
        """Release connections (call from the app's lifespan shutdown)."""
        ...


@dataclass(frozen=True, slots=True)
class _Keys:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float


def _import_keys(document: Mapping[str, Any], uri: str) -> _Keys:
    """The usable signature keys of a JWK Set (RFC 7517 §5); ``fetched_at`` is set by the caller."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ResourceServerUnavailableError(f"{uri}: not a JWK Set (no 'keys' array)")
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in _SIGNATURE_KTY:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, ValueError, TypeError) as exc:
            _log.warning("jwks_key_ignored", jwks_uri=uri, kid=entry.get("kid"), reason=str(exc))
    if not keys:
        raise ResourceServerUnavailableError(f"{uri}: the JWK Set holds no usable signature key")
    kids = frozenset(k.kid for k in keys if k.kid is not None)
    return _Keys(KeySet(keys), kids, 0.0)


class RemoteJwks:
    """The issuer's JWK Set, discovered, cached and refreshed (see the module docstring)."""

    def __init__(
        self,
        issuer: str,
        *,
        verify: Verify = True,
        client_cert: ClientCert | None = None,
        ttl: float = 300.0,
        refetch_interval: float = 30.0,
        failure_backoff: float = 5.0,
        max_stale: float = 3600.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = check_issuer_url(issuer)
        self._client = http_client(
            client_ssl_context(verify, client_cert), timeout, keep_alive=False
        )
        self._ttl, self._refetch_interval = ttl, refetch_interval
        self._failure_backoff, self._max_stale = failure_backoff, max_stale
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: _Keys | None = None
        self._failure: tuple[float, ResourceServerUnavailableError] | None = None
        self._lock = asyncio.Lock()

    @property
    def issuer(self) -> str:
        return self._issuer

    async def key_set(self, kid: str | None = None) -> KeySet:
        """The current keys; refetched once (rate-limited) when ``kid`` is not among them."""
        now = self._clock()
        current = self._keys
        if current is None or now >= current.fetched_at + self._ttl:
            current = await self._refresh(now, discover=True)
        if kid is None or kid in current.kids:
            return current.keys
        if now - current.fetched_at >= self._refetch_interval:
            current = await self._refresh(now, discover=False)
            if kid in current.kids:
                return current.keys
        raise InvalidTokenError(UNKNOWN_KEY, detail=f"kid {kid!r} is not in the issuer's JWK Set")

    async def _refresh(self, started: float, *, discover: bool) -> _Keys:
        async with self._lock:
            current = self._keys
            if current is not None and current.fetched_at >= started:
                return current  # a concurrent caller fetched while we waited
            if self._failure is not None and started - self._failure[0] < self._failure_backoff:
                return self._stale_or_raise(self._failure[1], started, discover=discover)
            try:
                fetched = await self._download(discover=discover or self._jwks_uri is None)
            except ResourceServerUnavailableError as exc:
                self._failure = (self._clock(), exc)
                _log.warning("jwks_unavailable", issuer=self._issuer, detail=exc.detail)
                return self._stale_or_raise(exc, started, discover=discover)
            self._failure, self._keys = None, fetched
            return fetched

    def _stale_or_raise(
        self, error: ResourceServerUnavailableError, now: float, *, discover: bool
    ) -> _Keys:
        """The expired key set while within ``max_stale`` (TTL refreshes only), else ``error``."""
        current = self._keys
        if (
            discover
            and current is not None
            and now - current.fetched_at < self._ttl + self._max_stale
        ):
            return current
        raise error

    async def _download(self, *, discover: bool) -> _Keys:
        if discover or self._jwks_uri is None:
            metadata = await fetch_metadata(self._client, self._issuer)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
                raise ResourceServerUnavailableError(
                    f"the metadata of {self._issuer} has no https jwks_uri"
                )
            self._jwks_uri = jwks_uri
        keys = _import_keys(await get_json(self._client, self._jwks_uri), self._jwks_uri)
        return _Keys(keys.keys, keys.kids, self._clock())

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RemoteJwks:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
