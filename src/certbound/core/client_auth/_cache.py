"""A cache of client lookups and successful mutual-TLS authentications (RFC 8705 §2).

A client that keeps presenting the same certificate chain gets the same answer until something
that decides it changes, so the token endpoint need not read the client store, validate the chain
(RFC 5280) and match the subject (§2.1.2) again on every request. An answer is reused only for the
same

- ``client_id`` and **client-store revision** (``ClientStore.revision()`` changes with every
  registration, update or removal, in this process or another),
- **presented chain** (every certificate, not only the leaf's ``x5t#S256``: a missing intermediate
  must still fail), and
- **chain verifier** (the trust anchors and CRLs: a trust reload replaces the verifier),

and never past the earliest ``notAfter`` of the presented certificates or :attr:`max_age` seconds.
Failures are never cached. ``self_signed_tls_client_auth`` with a ``jwks_uri`` is not cached (the
fetched set can change without a new revision).

The revision is read from the store at most once per ``revision_ttl`` seconds (1 s, the trust-sync
interval: a registration change made by another process, e.g. the CLI, takes effect within it,
exactly as for the TLS trust store). Changes made through :class:`CachingClientStore` in this
process take effect at once. The cache is per process and bounded (oldest entries leave first).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from cryptography import x509

from certbound.core.clients import SELF_SIGNED_TLS_CLIENT_AUTH, TLS_CLIENT_AUTH, Client
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.ports import ClientStore

__all__ = ["AuthenticationCache", "CachingClientStore"]

_UNKNOWN: Final = object()  # a cached "no such client" answer
_CACHED_METHODS: Final = frozenset({TLS_CLIENT_AUTH, SELF_SIGNED_TLS_CLIENT_AUTH})

_AuthKey = tuple[str, int, str]  # client_id, revision, leaf x5t#S256
_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class _Authenticated:
    chain: tuple[x509.Certificate, ...]  # every presented certificate must be the same
    verifier: ChainVerifier  # compared by identity: a reload makes a new one
    until: float  # epoch seconds


class AuthenticationCache:
    """Client lookups by (client_id, revision) and mTLS successes (see the module docstring)."""

    __slots__ = (
        "_auth",
        "_clients",
        "_epoch",
        "_max_age",
        "_max_entries",
        "_monotonic",
        "_read_at",
        "_revision",
        "_revision_ttl",
    )

    def __init__(
        self,
        *,
        revision_ttl: float = 1.0,
        max_age: float = 60.0,
        max_entries: int = 4096,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if revision_ttl < 0 or max_age <= 0 or max_entries < 1:
            raise ValueError("revision_ttl >= 0, max_age > 0 and max_entries >= 1 are required")
        self._revision_ttl, self._max_age, self._max_entries = revision_ttl, max_age, max_entries
        self._monotonic = monotonic
        self._revision: int | None = None
        self._read_at = 0.0
        self._epoch = 0  # bumped by invalidate(): a read that straddles it is not kept
        self._clients: dict[tuple[str, int], Client | object] = {}
        self._auth: dict[_AuthKey, _Authenticated] = {}

    def invalidate(self) -> None:
        """A client changed in this process: the next lookup reads the revision again."""
        self._epoch += 1
        self._revision = None

    async def revision(self, store: ClientStore) -> int:
        """The store's revision, read at most once per ``revision_ttl`` unless invalidated."""
        now = self._monotonic()
        current = self._revision
        if current is not None and now - self._read_at < self._revision_ttl:
            return current
        self._read_at = now  # concurrent requests keep using ``current`` meanwhile
        epoch = self._epoch
        revision = await store.revision()
        if epoch == self._epoch:
            if revision != current:
                self._clients.clear()
                self._auth.clear()
            self._revision = revision
        return revision

    async def client(self, store: ClientStore, client_id: str) -> Client | None:
        """``store.get(client_id)`` as of the current revision."""
        revision = await self.revision(store)
        key = (client_id, revision)
        found = self._clients.get(key)
        if found is None:
            fetched = await store.get(client_id)
            found = _UNKNOWN if fetched is None else fetched
            _put(self._clients, key, found, self._max_entries)
        return found if isinstance(found, Client) else None

    def _auth_key(self, client: Client, peer: PeerCertificate) -> _AuthKey | None:
        if client.token_endpoint_auth_method not in _CACHED_METHODS or client.jwks_uri:
            return None
        revision = self._revision
        if revision is None or self._clients.get((client.client_id, revision)) is not client:
            return None  # only clients looked up through this cache at this revision
        return (client.client_id, revision, peer.thumbprint)

    def authenticated(
        self, client: Client, peer: PeerCertificate, verifier: ChainVerifier, now: dt.datetime
    ) -> bool:
        """True if ``peer`` authenticated ``client`` before, under the same trust, and the answer
        still holds at ``now``."""
        key = self._auth_key(client, peer)
        entry = self._auth.get(key) if key is not None else None
        return (
            entry is not None
            and entry.verifier is verifier
            and entry.chain == peer.chain  # identical objects compare without parsing
            and now.timestamp() < entry.until
        )

    def remember(
        self, client: Client, peer: PeerCertificate, verifier: ChainVerifier, now: dt.datetime
    ) -> None:
        """Record that ``peer`` authenticated ``client`` at ``now`` (a success only)."""
        key = self._auth_key(client, peer)
        if key is None:
            return
        not_after = min(c.not_valid_after_utc for c in peer.chain).timestamp()
        until = min(not_after, now.timestamp() + self._max_age)
        _put(self._auth, key, _Authenticated(peer.chain, verifier, until), self._max_entries)


def _put(table: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
    if key not in table and len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value


class CachingClientStore:
    """A :class:`~certbound.core.ports.ClientStore` that answers ``get`` through an
    :class:`AuthenticationCache` and invalidates it on every change made through it.

    ``authenticate_client`` uses the same cache for mTLS results when given this store.
    """

    __slots__ = ("cache", "inner")

    def __init__(self, inner: ClientStore, cache: AuthenticationCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else AuthenticationCache()

    async def get(self, client_id: str) -> Client | None:
        return await self.cache.client(self.inner, client_id)

    async def add(self, client: Client) -> None:
        try:
            await self.inner.add(client)
        finally:
            self.cache.invalidate()

    async def update(self, client: Client) -> None:
        try:
            await self.inner.update(client)
        finally:
            self.cache.invalidate()

    async def remove(self, client_id: str) -> bool:
        try:
            return await self.inner.remove(client_id)
        finally:
            self.cache.invalidate()

    async def list(self) -> list[Client]:
        return await self.inner.list()

    async def revision(self) -> int:
        return await self.inner.revision()
