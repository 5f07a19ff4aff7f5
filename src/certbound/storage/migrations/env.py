"""Alembic environment for certbound, configured in code by :mod:`certbound.storage.migrate`.

The normal path hands over a connection (``config.attributes["connection"]``, a sync facade run
inside ``AsyncConnection.run_sync``) already in the transaction that holds the migration lock.
Given only ``sqlalchemy.url`` (a developer creating a revision), it opens the async engine itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from certbound.storage.engine import create_engine
from certbound.storage.schema import METADATA


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=METADATA, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("run certbound migrations through certbound.storage.migrate")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=METADATA, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_with_url(url))


_main()
