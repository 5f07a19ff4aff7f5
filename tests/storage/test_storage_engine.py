"""The engine factory: URL handling, SQLite tuning, and failures that name their cause."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from certbound.storage import SqlStores, StorageError, create_engine, current_revision, open_store
from certbound.storage.engine import SQLITE_BUSY_TIMEOUT_MS, describe_error, safe_url


async def test_sqlite_connections_use_wal_normal_sync_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    async with await open_store(f"sqlite:///{tmp_path / 'c.db'}") as stores:
        for _ in range(2):  # a second, fresh connection is tuned too
            async with stores.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
                pragma = {
                    name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
                }
            await stores.engine.dispose()

    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "foreign_keys": 1,
    }
    assert SQLITE_BUSY_TIMEOUT_MS >= 5_000


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
async def test_sqlite_urls_map_to_aiosqlite_and_create_the_parent_directory(
    tmp_path: Path, scheme: str
) -> None:
    path = tmp_path / "a" / "b" / "certbound.db"

    async with await open_store(f"{scheme}:///{path}") as stores:
        assert stores.engine.url.drivername == "sqlite+aiosqlite"
        await stores.clients.revision()

    assert path.is_file()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db.example/certbound",
        "postgres://u@db.example/certbound",
        "postgresql+asyncpg://u@db.example/certbound",
    ],
)
async def test_postgresql_urls_map_to_asyncpg(url: str) -> None:
    engine = create_engine(url)
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "the database URL is not a URL"),
        ("", "the database URL is not a URL"),
        ("mysql://root:s3cret@db/certbound", "unsupported database URL scheme 'mysql'"),
        ("sqlite+pysqlite:///x.db", "unsupported database URL scheme 'sqlite+pysqlite'"),
        ("postgresql+psycopg://u:s3cret@db/x", "unsupported database URL scheme 'postgresql+psy"),
        ("sqlite://", "in-memory SQLite database"),
        ("sqlite:///:memory:", "in-memory SQLite database"),
        ("sqlite:///file:x?mode=memory&uri=true", "in-memory SQLite database"),
    ],
)
def test_a_bad_url_is_a_storage_error_that_never_shows_the_password(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=r"expected|in-memory") as caught:
        create_engine(url)

    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_sqlite_directory_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(StorageError, match=r"cannot create the directory of .*file/x\.db"):
        create_engine(f"sqlite:///{blocker / 'x.db'}")


def test_a_schema_is_refused_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="schema can only be chosen on PostgreSQL"):
        create_engine(f"sqlite:///{tmp_path / 'x.db'}", schema="certbound")


@pytest.mark.parametrize("schema", ["a,b", "public; DROP TABLE x", "1abc", "", "x" * 64])
def test_a_schema_that_is_not_a_plain_identifier_is_refused(schema: str) -> None:
    with pytest.raises(StorageError, match="schema must be a plain identifier"):
        create_engine("postgresql://u@db.example/x", schema=schema)


def test_postgresql_without_asyncpg_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg now raises ImportError

    with pytest.raises(StorageError, match=r"pip install 'certbound\[postgres\]'"):
        create_engine("postgresql://u@db.example/x")


@pytest.mark.parametrize("migrate", [True, False])
async def test_unreachable_postgresql_is_a_quick_storage_error_without_the_password(
    migrate: bool,
) -> None:
    started = time.monotonic()

    with pytest.raises(StorageError, match=r"127\.0\.0\.1:1/certbound failed: \w+") as caught:
        await open_store("postgresql://certbound:s3cret@127.0.0.1:1/certbound", migrate=migrate)

    assert time.monotonic() - started < 5
    assert "s3cret" not in str(caught.value)
    assert "certbound:***@" in str(caught.value)


async def test_an_operation_on_an_unreachable_database_is_a_storage_error() -> None:
    stores = SqlStores.from_engine(
        create_engine("postgresql://certbound:s3cret@127.0.0.1:1/certbound", connect_timeout=2)
    )
    try:
        with pytest.raises(StorageError, match=r"^listing clients failed on") as caught:
            await stores.clients.list()
        with pytest.raises(StorageError, match=r"^revoking a token failed on"):
            await stores.revoked_tokens.revoke("jti", 1)
    finally:
        await stores.close()

    assert "s3cret" not in str(caught.value)


def test_safe_url_masks_the_password_and_never_echoes_an_unparseable_url() -> None:
    assert safe_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert safe_url("::s3cret::") == "<unparseable database URL>"


def test_describe_error_keeps_the_first_line_and_survives_an_empty_message() -> None:
    assert describe_error(OSError("line one\nline two")) == "OSError: line one"
    assert describe_error(TimeoutError()) == "TimeoutError"


async def test_libpq_sslmode_and_connect_timeout_become_asyncpg_options() -> None:
    url = "postgresql://u:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=3"
    engine = create_engine(url)
    try:
        assert engine.url.query == {}
        with pytest.raises(StorageError, match="ConnectionRefusedError"):  # not a TypeError
            await current_revision(engine)
    finally:
        await engine.dispose()


def test_a_connect_timeout_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(StorageError, match="connect_timeout in the database URL must be a number"):
        create_engine("postgresql://u@db.example/x?connect_timeout=soon")
