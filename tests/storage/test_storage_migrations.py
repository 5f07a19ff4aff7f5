"""Alembic migrations shipped in the package: idempotent, lock-protected, matching schema.py."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import certbound.storage
from certbound.storage import (
    StorageError,
    current_revision,
    head_revision,
    require_head,
    upgrade,
)
from certbound.storage.migrate import HEAD_REVISION, alembic_config
from certbound.storage.schema import METADATA

if TYPE_CHECKING:
    from conftest import Backend  # tests/storage/conftest.py


def test_the_packaged_head_is_the_initial_revision() -> None:
    migrations = Path(certbound.storage.__file__).parent / "migrations"

    assert head_revision() == "0002" == HEAD_REVISION  # the constant the fast start-up check uses
    assert (migrations / "env.py").is_file()
    assert (migrations / "versions" / "v0001_initial.py").is_file()


async def test_upgrade_is_idempotent_and_leaves_the_database_at_head(
    sql_backend: Backend,
) -> None:
    engine = sql_backend.engine()
    try:
        assert await current_revision(engine) is None

        await upgrade(engine)
        await upgrade(engine)

        assert await current_revision(engine) == head_revision()
        await require_head(engine)
    finally:
        await engine.dispose()


def _schema_differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), METADATA))


async def test_the_migrated_schema_matches_schema_py(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores, stores.engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))

    assert differences == []
    assert tables == {
        "alembic_version",
        "clients",
        "meta",
        "registration_tokens",
        "revoked_tokens",
        "used_jtis",
    }


async def test_two_processes_upgrading_a_fresh_database_at_once_both_succeed(
    sql_backend: Backend,
) -> None:
    engines = [sql_backend.engine() for _ in range(3)]
    try:
        results = await asyncio.gather(*(upgrade(e) for e in engines), return_exceptions=True)

        assert results == [None, None, None]
        assert {await current_revision(e) for e in engines} == {head_revision()}
    finally:
        for engine in engines:
            await engine.dispose()


async def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"

    await upgrade(url)

    assert await current_revision(url) == head_revision()


async def test_opening_without_migrating_refuses_an_unmigrated_database(
    sql_backend: Backend,
) -> None:
    with pytest.raises(StorageError, match=r"at revision none, this certbound needs 0002: run"):
        await sql_backend.open_sql(migrate=False)

    async with await sql_backend.open_sql(migrate=True) as stores:
        assert await stores.clients.revision() == 0
    async with await sql_backend.open_sql(migrate=False) as stores:
        assert await stores.clients.revision() == 0


async def test_a_database_newer_than_this_certbound_is_refused(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores:
        async with stores.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))

        with pytest.raises(StorageError, match=r"'ffff'.*newer than this certbound"):
            await upgrade(stores.engine)
        with pytest.raises(StorageError, match="schema is at revision ffff"):
            await sql_backend.open_sql(migrate=False)


async def test_a_database_holding_foreign_tables_fails_to_migrate_with_a_storage_error(
    sql_backend: Backend,
) -> None:
    engine = sql_backend.engine()
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE clients (other_app TEXT)")
            await connection.exec_driver_sql("CREATE TABLE alembic_version (other_app TEXT)")

        with pytest.raises(StorageError, match=r"^migrating .+ failed: \w+Error: "):
            await upgrade(engine)
        with pytest.raises(StorageError, match=r"^reading the schema revision of .+ failed"):
            await current_revision(engine)
    finally:
        await engine.dispose()


async def test_upgrades_of_different_databases_in_one_process_do_not_interfere(
    tmp_path: Path,
) -> None:
    urls = [f"sqlite:///{tmp_path / f'db{i}.sqlite'}" for i in range(3)]

    results = await asyncio.gather(*(upgrade(u) for u in urls), return_exceptions=True)

    assert results == [None, None, None]
    assert [await current_revision(u) for u in urls] == [head_revision()] * 3


def test_a_developer_can_run_the_migrations_from_a_url_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"

    command.upgrade(alembic_config(url=url), "head")

    assert asyncio.run(current_revision(url)) == head_revision()


def test_offline_mode_renders_the_migration_as_sql(tmp_path: Path) -> None:
    output = io.StringIO()
    config = alembic_config(url=f"sqlite:///{tmp_path / 'never-created.db'}")
    config.output_buffer = output

    command.upgrade(config, "head", sql=True)

    assert "CREATE TABLE clients" in output.getvalue()
    assert "VALUES ('clients_revision', 0)" in output.getvalue()
    assert not (tmp_path / "never-created.db").exists()


def test_the_environment_refuses_to_run_without_a_connection_or_url() -> None:
    with pytest.raises(RuntimeError, match=r"through certbound\.storage\.migrate"):
        command.upgrade(alembic_config(), "head")


async def test_downgrade_to_base_removes_every_table(sql_backend: Backend) -> None:
    def downgrade(connection: Connection) -> set[str]:
        command.downgrade(alembic_config(connection=connection), "base")
        return set(inspect(connection).get_table_names())

    async with await sql_backend.open_sql() as stores:
        async with stores.engine.begin() as connection:
            tables = await connection.run_sync(downgrade)

        assert tables == {"alembic_version"}
        assert await current_revision(stores.engine) is None


def test_a_server_start_on_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    """Alembic costs ~10 MiB per process: opening a store already at head must not load it."""
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    probe = (
        "import asyncio, sys\n"
        "from certbound.storage.sql import open_store\n"
        "async def main():\n"
        "    stores = await open_store(sys.argv[1])\n"
        "    await stores.close()\n"
        "asyncio.run(main())\n"
        "print(any(m == 'alembic' or m.startswith('alembic.') for m in sys.modules))\n"
    )
    run = [sys.executable, "-c", probe, url]
    first = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True)
    again = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True)
    assert (first.stdout.strip(), again.stdout.strip()) == ("True", "False")
