"""SQL stores for token ids: revoked tokens (RFC 7009) and the assertion replay cache (RFC 7523).

Both are single statements (an upsert), so concurrent callers on SQLite and PostgreSQL are decided
by the database, never by a read followed by a write (STACK.md "Storage facts").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Table, case, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from certbound.storage.engine import transaction, upsert_insert
from certbound.storage.schema import revoked_tokens, used_jtis

__all__ = ["SqlReplayCache", "SqlRevokedTokenStore"]


async def _purge(engine: AsyncEngine, table: Table, now: float, what: str) -> int:
    async with transaction(engine, f"purging expired {what}") as connection:
        stmt = delete(table).where(table.c.expires_at <= int(now))
        return (await connection.execute(stmt)).rowcount


class SqlRevokedTokenStore:
    """Revoked token ids (RevokedTokenStore port, RFC 7009 §2.1), kept at least until the token's
    own expiry."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def revoke(self, jti: str, expires_at: int) -> None:
        """Idempotent; revoking again keeps the later expiry."""
        stmt = upsert_insert(self._engine, revoked_tokens).values(jti=jti, expires_at=expires_at)
        later = case(
            (stmt.excluded.expires_at > revoked_tokens.c.expires_at, stmt.excluded.expires_at),
            else_=revoked_tokens.c.expires_at,
        )
        stmt = stmt.on_conflict_do_update(index_elements=["jti"], set_={"expires_at": later})
        async with transaction(self._engine, "revoking a token") as connection:
            await connection.execute(stmt)

    async def is_revoked(self, jti: str) -> bool:
        async with transaction(self._engine, "checking a token's revocation") as connection:
            stmt = select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)
            return (await connection.execute(stmt)).first() is not None

    async def purge_expired(self, now: float) -> int:
        """Forget revocations of tokens expired at ``now`` (exp <= now); returns how many."""
        return await _purge(self._engine, revoked_tokens, now, "revocations")


class SqlReplayCache:
    """Identifiers used once until they expire (ReplayCache port; RFC 7523 §3 item 7)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def use(self, jti: str, expires_at: int) -> bool:
        """Record ``jti`` until ``expires_at``; False if it is recorded and not yet expired. One
        upsert: a new row, or taking over an expired one, returns the row; a live one does not."""
        insert = upsert_insert(self._engine, used_jtis).values(jti=jti, expires_at=expires_at)
        upsert = insert.on_conflict_do_update(
            index_elements=["jti"],
            set_={"expires_at": insert.excluded.expires_at},
            where=used_jtis.c.expires_at <= int(self._clock()),
        )
        async with transaction(self._engine, "recording a used jti") as connection:
            result = await connection.execute(upsert.returning(used_jtis.c.jti))
            return result.first() is not None

    async def purge_expired(self, now: float) -> int:
        """Forget identifiers expired at ``now`` (exp <= now); returns how many."""
        return await _purge(self._engine, used_jtis, now, "used jtis")
