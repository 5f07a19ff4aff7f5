"""Schema migrations: Alembic, configured in code (no alembic.ini), revisions shipped in the package.

:func:`upgrade` is idempotent and safe when several processes start at once: the whole upgrade runs
in one transaction that first takes a lock — ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` (the write lock, waited for through busy_timeout) on SQLite. Both databases have
transactional DDL, so the process that waited finds the schema at head and does nothing. Within
one process, upgrades also queue on an asyncio lock (Alembic's running context is global).

A server start usually finds the schema at head already: one ``SELECT`` of ``alembic_version``
answers that, and Alembic (about 10 MiB of resident memory per process) is imported only when there
is something to migrate or when the revisions are inspected (``certbound db``). :data:`HEAD_REVISION`
names the newest packaged revision; a test keeps it equal to what Alembic finds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final
from weakref import WeakKeyDictionary

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from certbound.core.ports import StorageError
from certbound.storage.engine import create_engine, describe_error, safe_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATION_LOCK_KEY",
    "alembic_config",
    "current_revision",
    "head_revision",
    "require_head",
    "upgrade",
]

HEAD_REVISION: Final = "0002"  # the newest file in migrations/versions (a test checks it)
MIGRATION_LOCK_KEY = 27977564947639908  # int.from_bytes(b"certbnd", "big"): PostgreSQL bigint key
_SCRIPT_LOCATION = "certbound.storage:migrations"
_PROCESS_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config for the packaged revisions, bound to ``connection`` or ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of certbound ships (as Alembic finds it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revision 0001
        raise StorageError("no migrations are packaged")
    return head


async def upgrade(target: AsyncEngine | str) -> None:
    """Bring the database of ``target`` (an engine or a URL) to :func:`head_revision`."""
    async with _engine(target) as engine:
        if await _at_head(engine):
            return
        async with _process_lock():
            await _upgrade_locked(engine)


async def _at_head(engine: AsyncEngine) -> bool:
    """True if the database is at :data:`HEAD_REVISION` (one read, no Alembic); False when it is
    not, or when the read fails (the locked upgrade then decides, and reports any error)."""
    try:
        async with engine.connect() as connection:
            result = await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return [row[0] for row in result] == [HEAD_REVISION]
    except (SQLAlchemyError, OSError):
        return False


async def _upgrade_locked(engine: AsyncEngine) -> None:
    from alembic.util.exc import CommandError

    try:
        async with engine.connect() as connection:
            await _lock(connection)
            await connection.run_sync(_upgrade_sync)
            await connection.commit()
    except CommandError as exc:
        raise StorageError(
            f"cannot migrate {safe_url(engine.url)}: {exc} "
            "(is the database newer than this certbound?)"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(
            f"migrating {safe_url(engine.url)} failed: {describe_error(exc)}"
        ) from exc


async def current_revision(target: AsyncEngine | str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    async with _engine(target) as engine:
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_current_sync)
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(
                f"reading the schema revision of {safe_url(engine.url)} failed: "
                f"{describe_error(exc)}"
            ) from exc


async def require_head(target: AsyncEngine | str) -> None:
    """StorageError unless the database is at :func:`head_revision` (the server never runs
    against a schema it was not written for)."""
    async with _engine(target) as engine:
        if await _at_head(engine):
            return
        current, head = await current_revision(engine), head_revision()
    if current != head:
        raise StorageError(
            f"the database schema is at revision {current or 'none'}, this certbound "
            f"needs {head}: run the migrations (`certbound db upgrade`)"
        )


@asynccontextmanager
async def _engine(target: AsyncEngine | str) -> AsyncIterator[AsyncEngine]:
    if isinstance(target, AsyncEngine):
        yield target
        return
    engine = create_engine(target)
    try:
        yield engine
    finally:
        await engine.dispose()


def _process_lock() -> asyncio.Lock:
    """Alembic keeps its running context in module globals: one upgrade at a time per loop."""
    loop = asyncio.get_running_loop()
    lock = _PROCESS_LOCKS.get(loop)
    if lock is None:
        lock = _PROCESS_LOCKS[loop] = asyncio.Lock()
    return lock


async def _lock(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
    else:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade_sync(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection=connection), "head")


def _current_sync(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
