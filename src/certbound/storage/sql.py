"""SQL stores (SQLite or PostgreSQL through one code path) implementing :mod:`certbound.core.ports`.

Every client change and the ``clients_revision`` increment share one transaction, so another
process that reads the new revision also reads the change. Database failures become
:class:`StorageError` naming the operation and the URL with its password hidden.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from certbound.core.clients import Client
from certbound.core.ports import ConflictError, NotFoundInStoreError, StorageError
from certbound.storage._codec import decode_client, encode_client
from certbound.storage.engine import create_engine, transaction
from certbound.storage.migrate import require_head, upgrade
from certbound.storage.schema import CLIENTS_REVISION, clients, meta
from certbound.storage.sql_tokens import SqlReplayCache, SqlRevokedTokenStore

if TYPE_CHECKING:
    from certbound.core.ports import ClientStore, ReplayCache, RevokedTokenStore

__all__ = [
    "SqlClientStore",
    "SqlReplayCache",
    "SqlRevokedTokenStore",
    "SqlStores",
    "open_store",
]

_METADATA = clients.c["metadata"]
_NO_COUNTER = "the clients_revision counter is missing (run the migrations)"


async def _bump_revision(connection: AsyncConnection) -> None:
    stmt = (
        update(meta)
        .where(meta.c.key == CLIENTS_REVISION)
        .values(value=meta.c.value + 1)
        .returning(meta.c.value)
    )
    if (await connection.execute(stmt)).first() is None:
        raise StorageError(_NO_COUNTER)


class SqlClientStore:
    """Registered clients in the ``clients`` table (ClientStore port)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def get(self, client_id: str) -> Client | None:
        async with transaction(self._engine, f"reading client {client_id!r}") as connection:
            stmt = select(_METADATA).where(clients.c.client_id == client_id)
            text = (await connection.execute(stmt)).scalar_one_or_none()
        return None if text is None else decode_client(text)

    async def add(self, client: Client) -> None:
        """ConflictError if ``client.client_id`` is taken; the stored client is left as it was."""
        text, now = encode_client(client), int(self._clock())
        async with transaction(self._engine, f"adding client {client.client_id!r}") as connection:
            stmt = insert(clients).values(
                client_id=client.client_id, metadata=text, created_at=now, updated_at=now
            )
            try:
                await connection.execute(stmt)
            except IntegrityError:
                raise ConflictError(
                    f"client_id {client.client_id!r} is already registered"
                ) from None
            await _bump_revision(connection)

    async def update(self, client: Client) -> None:
        """Replace the stored metadata; NotFoundInStoreError if the client does not exist."""
        text, now = encode_client(client), int(self._clock())
        async with transaction(self._engine, f"updating client {client.client_id!r}") as connection:
            stmt = (
                update(clients)
                .where(clients.c.client_id == client.client_id)
                .values(metadata=text, updated_at=now)
                .returning(clients.c.client_id)
            )
            if (await connection.execute(stmt)).first() is None:
                raise NotFoundInStoreError(f"no client {client.client_id!r} to update")
            await _bump_revision(connection)

    async def remove(self, client_id: str) -> bool:
        async with transaction(self._engine, f"removing client {client_id!r}") as connection:
            stmt = (
                delete(clients)
                .where(clients.c.client_id == client_id)
                .returning(clients.c.client_id)
            )
            found = (await connection.execute(stmt)).first() is not None
            if found:
                await _bump_revision(connection)
        return found

    async def list(self) -> list[Client]:
        """Every client, ordered by client_id (code-point order on every backend)."""
        async with transaction(self._engine, "listing clients") as connection:
            texts = (await connection.execute(select(_METADATA))).scalars().all()
        return sorted((decode_client(t) for t in texts), key=lambda c: c.client_id)

    async def revision(self) -> int:
        async with transaction(self._engine, "reading the clients revision") as connection:
            stmt = select(meta.c.value).where(meta.c.key == CLIENTS_REVISION)
            value = (await connection.execute(stmt)).scalar_one_or_none()
        if value is None:
            raise StorageError(_NO_COUNTER)
        return int(value)


@dataclass(frozen=True, slots=True)
class SqlStores:
    """The SQL stores sharing one engine; :meth:`close` releases its connections."""

    engine: AsyncEngine
    clients: SqlClientStore
    revoked_tokens: SqlRevokedTokenStore
    replay_cache: SqlReplayCache

    @classmethod
    def from_engine(
        cls, engine: AsyncEngine, *, clock: Callable[[], float] = time.time
    ) -> SqlStores:
        return cls(
            engine,
            SqlClientStore(engine, clock=clock),
            SqlRevokedTokenStore(engine),
            SqlReplayCache(engine, clock=clock),
        )

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> SqlStores:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_store(url: str, *, migrate: bool = True, schema: str | None = None) -> SqlStores:
    """Stores on ``url``. With ``migrate`` the schema is brought to head first; without it the
    database must already be at head (StorageError otherwise), so the server can never run on a
    schema it was not written for. ``schema``: see :func:`~certbound.storage.engine.create_engine`.
    """
    engine = create_engine(url, schema=schema)
    try:
        if migrate:
            await upgrade(engine)
        else:
            await require_head(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStores.from_engine(engine)


if TYPE_CHECKING:  # mypy proves the classes implement the core's ports

    def _implements_ports(stores: SqlStores) -> tuple[ClientStore, RevokedTokenStore, ReplayCache]:
        return stores.clients, stores.revoked_tokens, stores.replay_cache
