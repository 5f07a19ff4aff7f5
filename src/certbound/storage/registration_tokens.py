"""Stores of RFC 7592 registration access tokens: the SHA-256 of each client's token, never the
token itself (:class:`~certbound.core.endpoints.registration.RegistrationTokenStore`).

In SQL the row belongs to the client (``ON DELETE CASCADE``): removing a client by any path (CLI,
admin API, RFC 7592) removes its token, so a later client with the same ``client_id`` never
inherits it. The memory store has no such link; its callers remove the token with the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from certbound.core.ports import NotFoundInStoreError
from certbound.storage.engine import transaction, upsert_insert
from certbound.storage.schema import registration_tokens

if TYPE_CHECKING:
    from certbound.core.endpoints.registration import RegistrationTokenStore

__all__ = ["MemoryRegistrationTokenStore", "SqlRegistrationTokenStore"]

_TABLE = registration_tokens


class SqlRegistrationTokenStore:
    """Registration access token hashes in the ``registration_tokens`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def put(self, client_id: str, token_sha256: str, issued_at: int) -> None:
        """Set (or replace) the client's token hash; NotFoundInStoreError if no such client."""
        stmt = upsert_insert(self._engine, _TABLE).values(
            client_id=client_id, token_sha256=token_sha256, issued_at=issued_at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["client_id"],
            set_={"token_sha256": stmt.excluded.token_sha256, "issued_at": issued_at},
        )
        async with transaction(self._engine, "storing a registration token") as connection:
            try:
                await connection.execute(stmt)
            except IntegrityError:  # the foreign key: no such client
                raise NotFoundInStoreError(f"no client {client_id!r} to hold the token") from None

    async def get(self, client_id: str) -> str | None:
        """The stored SHA-256 (hex) of the client's token, or None."""
        async with transaction(self._engine, "reading a registration token") as connection:
            stmt = select(_TABLE.c.token_sha256).where(_TABLE.c.client_id == client_id)
            value = (await connection.execute(stmt)).scalar_one_or_none()
        return None if value is None else str(value)

    async def remove(self, client_id: str) -> bool:
        async with transaction(self._engine, "removing a registration token") as connection:
            stmt = (
                delete(_TABLE).where(_TABLE.c.client_id == client_id).returning(_TABLE.c.client_id)
            )
            return (await connection.execute(stmt)).first() is not None


class MemoryRegistrationTokenStore:
    """Registration access token hashes in a dict (tests, ``serve --ephemeral``)."""

    def __init__(self) -> None:
        self._rows: dict[str, str] = {}

    async def put(self, client_id: str, token_sha256: str, issued_at: int) -> None:
        self._rows[client_id] = token_sha256

    async def get(self, client_id: str) -> str | None:
        return self._rows.get(client_id)

    async def remove(self, client_id: str) -> bool:
        return self._rows.pop(client_id, None) is not None


if TYPE_CHECKING:  # mypy proves both implement the port

    def _implements_port(
        sql: SqlRegistrationTokenStore, memory: MemoryRegistrationTokenStore
    ) -> tuple[RegistrationTokenStore, RegistrationTokenStore]:
        return sql, memory
