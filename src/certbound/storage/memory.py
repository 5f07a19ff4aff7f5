"""In-memory stores with the SQL stores' exact semantics, for unit tests and ``serve --ephemeral``.

Clients are kept as the same JSON text the SQL stores write, so a client that would not survive
the database does not survive here either. Nothing is shared between processes or kept on exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certbound.core.clients import Client
from certbound.core.ports import ConflictError, NotFoundInStoreError
from certbound.storage._codec import decode_client, encode_client

if TYPE_CHECKING:
    from certbound.core.ports import ClientStore, ReplayCache, RevokedTokenStore

__all__ = ["MemoryClientStore", "MemoryReplayCache", "MemoryRevokedTokenStore", "MemoryStores"]


class MemoryClientStore:
    """Registered clients in a dict (ClientStore port). Each method runs without awaiting, so
    each is atomic on the event loop."""

    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._revision = 0

    async def get(self, client_id: str) -> Client | None:
        text = self._rows.get(client_id)
        return None if text is None else decode_client(text)

    async def add(self, client: Client) -> None:
        """ConflictError if ``client.client_id`` is taken; the stored client is left as it was."""
        text = encode_client(client)
        if client.client_id in self._rows:
            raise ConflictError(f"client_id {client.client_id!r} is already registered")
        self._rows[client.client_id] = text
        self._revision += 1

    async def update(self, client: Client) -> None:
        """Replace the stored metadata; NotFoundInStoreError if the client does not exist."""
        text = encode_client(client)
        if client.client_id not in self._rows:
            raise NotFoundInStoreError(f"no client {client.client_id!r} to update")
        self._rows[client.client_id] = text
        self._revision += 1

    async def remove(self, client_id: str) -> bool:
        if self._rows.pop(client_id, None) is None:
            return False
        self._revision += 1
        return True

    async def list(self) -> list[Client]:
        """Every client, ordered by client_id (code-point order)."""
        return [decode_client(self._rows[k]) for k in sorted(self._rows)]

    async def revision(self) -> int:
        return self._revision


class MemoryRevokedTokenStore:
    """Revoked token ids (RFC 7009), kept until the token would have expired anyway."""

    def __init__(self) -> None:
        self._expiry: dict[str, int] = {}

    async def revoke(self, jti: str, expires_at: int) -> None:
        """Idempotent; revoking again keeps the later expiry."""
        self._expiry[jti] = max(expires_at, self._expiry.get(jti, expires_at))

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._expiry

    async def purge_expired(self, now: float) -> int:
        """Forget revocations of tokens expired at ``now`` (exp <= now); returns how many."""
        return _purge(self._expiry, now)


class MemoryReplayCache:
    """Identifiers used once until they expire (ReplayCache port; RFC 7523 §3 item 7)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._expiry: dict[str, int] = {}
        self._clock = clock

    async def use(self, jti: str, expires_at: int) -> bool:
        """Record ``jti`` until ``expires_at``; False if it is recorded and not yet expired."""
        previous = self._expiry.get(jti)
        if previous is not None and previous > int(self._clock()):
            return False
        self._expiry[jti] = expires_at
        return True

    async def purge_expired(self, now: float) -> int:
        """Forget identifiers expired at ``now`` (exp <= now); returns how many."""
        return _purge(self._expiry, now)


def _purge(expiry: dict[str, int], now: float) -> int:
    expired = [jti for jti, exp in expiry.items() if exp <= int(now)]
    for jti in expired:
        del expiry[jti]
    return len(expired)


@dataclass(frozen=True, slots=True)
class MemoryStores:
    """The in-memory counterpart of :class:`~certbound.storage.sql.SqlStores`."""

    clients: MemoryClientStore = field(default_factory=MemoryClientStore)
    revoked_tokens: MemoryRevokedTokenStore = field(default_factory=MemoryRevokedTokenStore)
    replay_cache: MemoryReplayCache = field(default_factory=MemoryReplayCache)

    async def close(self) -> None:
        """Nothing to release; present so that both bundles are closed the same way."""


if TYPE_CHECKING:  # mypy proves the classes implement the core's ports

    def _implements_ports(
        stores: MemoryStores,
    ) -> tuple[ClientStore, RevokedTokenStore, ReplayCache]:
        return stores.clients, stores.revoked_tokens, stores.replay_cache
