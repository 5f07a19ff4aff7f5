"""The core's ports: every I/O dependency of the protocol core is one of these Protocols.

Adapters (storage, key management, HTTP fetching, logging/metrics) implement them; the core only
ever sees these types (STYLE.md rule 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from certbound.core.clients import Client

__all__ = [
    "ClientStore",
    "Clock",
    "ConflictError",
    "EventSink",
    "JwksFetchError",
    "JwksFetcher",
    "NotFoundInStoreError",
    "ReplayCache",
    "RevokedTokenStore",
    "StorageError",
    "TokenSigner",
]


class StorageError(Exception):
    """The store could not answer (connection lost, database locked...): the adapter answers 503."""


class ConflictError(StorageError):
    """An insert collided with an existing key (e.g. a client_id that is taken)."""


class NotFoundInStoreError(StorageError):
    """An update or delete named a key that does not exist."""


@runtime_checkable
class ClientStore(Protocol):
    """Registered clients. ``revision()`` changes whenever any client is added, updated or removed,
    so that caches (the TLS trust store of self-signed certificates, authentication caches) can
    notice changes made by another process (the CLI) without a restart."""

    async def get(self, client_id: str) -> Client | None: ...
    async def add(self, client: Client) -> None: ...  # ConflictError if the client_id exists
    async def update(self, client: Client) -> None: ...  # NotFoundInStoreError if missing
    async def remove(self, client_id: str) -> bool: ...  # False if it did not exist
    async def list(self) -> list[Client]: ...
    async def revision(self) -> int: ...


class RevokedTokenStore(Protocol):
    """Revoked token ids (RFC 7009 §2.1), kept at least until the token's own expiry.

    ``revoke`` is idempotent (revoking again keeps the later expiry); ``is_revoked`` is what the
    introspection endpoint (RFC 7662 §2.2 "active") consults.
    """

    async def revoke(self, jti: str, expires_at: int) -> None: ...
    async def is_revoked(self, jti: str) -> bool: ...


class ReplayCache(Protocol):
    """Single use of identifiers until they expire (RFC 7523 §3 item 7: a client assertion's
    ``jti``). ``use`` is atomic: of concurrent calls with one ``jti`` exactly one gets True."""

    async def use(self, jti: str, expires_at: int) -> bool:
        """Record ``jti`` as used until ``expires_at`` (epoch seconds); False if it was seen."""
        ...


class TokenSigner(Protocol):
    """Signs JWTs with one key (local file or HSM). The JOSE assembly stays in a JOSE library."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> str: ...
    def encode(self, claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` with ``header`` (plus ``alg`` and ``kid``)."""
        ...

    def public_jwk(self) -> dict[str, Any]: ...


class JwksFetchError(Exception):
    """A jwks_uri could not be fetched or did not hold a JWK Set (reason in the message)."""


class JwksFetcher(Protocol):
    """Fetches a client's jwks_uri (RFC 8705 §2.2), with caching; ``force`` bypasses the cache
    (rate-limited by the implementation) when an unknown certificate is presented."""

    async def fetch(self, uri: str, *, force: bool = False) -> Mapping[str, Any]: ...


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch."""
        ...


class EventSink(Protocol):
    """Receives the core's typed events (audit log, metrics)."""

    def emit(self, event: object) -> None: ...
