"""The database engine factory: SQLite (aiosqlite, the default) or PostgreSQL (asyncpg).

SQLite is tuned for several processes sharing one file (the server and the CLI): WAL journal,
``synchronous=NORMAL`` and a busy timeout of 10 s, set on every new connection (a short timeout
gave "database is locked" under contention, STACK.md "Storage facts"). Errors name what failed and
the URL with its password hidden, never the password.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from certbound.core.ports import StorageError

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_engine",
    "describe_error",
    "safe_url",
    "transaction",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000

_SQLITE_DRIVER = "sqlite+aiosqlite"
_POSTGRES_DRIVER = "postgresql+asyncpg"
_DRIVERS = {
    "sqlite": _SQLITE_DRIVER,
    _SQLITE_DRIVER: _SQLITE_DRIVER,
    "postgresql": _POSTGRES_DRIVER,
    "postgres": _POSTGRES_DRIVER,
    _POSTGRES_DRIVER: _POSTGRES_DRIVER,
}
_EXPECTED = "expected sqlite:///PATH or postgresql://USER@HOST/DATABASE"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def create_engine(
    url: str, *, schema: str | None = None, connect_timeout: float = 10.0
) -> AsyncEngine:
    """An async engine for ``url``.

    ``sqlite://`` and ``postgresql://`` (or ``postgres://``) map to the aiosqlite and asyncpg
    drivers. ``schema`` (PostgreSQL only) becomes the connection's ``search_path``: the tables
    live in that existing schema. ``connect_timeout`` bounds a PostgreSQL connection attempt.
    """
    parsed = _parse(url)
    if parsed.drivername == _SQLITE_DRIVER:
        if schema is not None:
            raise StorageError("a schema can only be chosen on PostgreSQL")
        return _sqlite_engine(parsed)
    return _postgres_engine(parsed, schema, connect_timeout)


def safe_url(url: URL | str) -> str:
    """``url`` for messages and logs, its password masked."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)


def describe_error(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement and parameters (they may hold secrets)."""
    orig = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else None
    cause = orig if isinstance(orig, BaseException) else exc
    # SQLAlchemy's async adapters wrap the driver's exception: name the driver's.
    while type(cause).__module__.startswith("sqlalchemy") and cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


@asynccontextmanager
async def transaction(engine: AsyncEngine, what: str) -> AsyncIterator[AsyncConnection]:
    """One transaction on ``engine``; a driver or connection failure becomes StorageError naming
    ``what`` failed and where (password hidden). StorageErrors raised inside pass unchanged."""
    try:
        async with engine.begin() as connection:
            yield connection
    except StorageError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(
            f"{what} failed on {safe_url(engine.url)}: {describe_error(exc)}"
        ) from exc


def upsert_insert(engine: AsyncEngine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the dialect's ``ON CONFLICT`` clauses (SQLite and PostgreSQL spell them the
    same). Only the engine's own dialect is imported: a SQLite server never loads PostgreSQL's."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never echo the input: an unparseable URL may still hold a password.
        raise StorageError(f"the database URL is not a URL ({_EXPECTED})") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StorageError(f"unsupported database URL scheme {parsed.drivername!r} ({_EXPECTED})")
    return parsed.set(drivername=driver)


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    if database == "" or ":memory:" in database or url.query.get("mode") == "memory":
        raise StorageError(
            "an in-memory SQLite database is not shared between connections; "
            "give a file path (sqlite:///PATH) or use the ephemeral memory store"
        )
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory of {database}: {exc.strerror}") from None
    engine = create_async_engine(url.set(database=str(Path(database).expanduser())))
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Runs on every new SQLite connection; busy_timeout first so the others can wait."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _postgres_engine(url: URL, schema: str | None, connect_timeout: float) -> AsyncEngine:
    # libpq spellings (copied from psql or psycopg URLs) become asyncpg's connect() keywords.
    query = dict(url.query)
    connect_args: dict[str, Any] = {"ssl": query.pop("sslmode")} if "sslmode" in query else {}
    try:
        connect_args["timeout"] = float(str(query.pop("connect_timeout", connect_timeout)))
    except ValueError:
        raise StorageError("connect_timeout in the database URL must be a number") from None
    url = url.set(query=query)
    if schema is not None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError("schema must be a plain identifier (letters, digits, underscore)")
        connect_args["server_settings"] = {"search_path": schema}
    try:
        return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except ImportError:
        raise StorageError(
            "PostgreSQL needs the asyncpg driver: pip install 'certbound[postgres]'"
        ) from None
