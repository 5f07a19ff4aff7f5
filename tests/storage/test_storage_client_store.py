"""The ClientStore contract, run on every backend (memory | SQLite file | PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, update

from certbound.core.clients import Client
from certbound.core.ports import ClientStore
from certbound.storage import (
    ConflictError,
    MemoryStores,
    NotFoundInStoreError,
    SqlStores,
    StorageError,
)
from certbound.storage.schema import clients, meta

if TYPE_CHECKING:
    from conftest import Backend  # tests/storage/conftest.py

Stores = SqlStores | MemoryStores


def make_client(client_id: str, **changes: object) -> Client:
    base = Client(client_id, "tls_client_auth", tls_client_auth_san_dns=f"{client_id}.example.com")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_every_backend_implements_the_client_store_port(stores: Stores) -> None:
    assert isinstance(stores.clients, ClientStore)


async def test_client_with_every_field_round_trips_losslessly(
    stores: Stores, full_client: Client
) -> None:
    await stores.clients.add(full_client)

    loaded = await stores.clients.get("client-1")

    assert loaded == full_client  # tuples stay tuples: ("a",) != ["a"]
    assert loaded is not full_client


async def test_get_of_an_unknown_client_is_none(stores: Stores) -> None:
    assert await stores.clients.get("nobody") is None


async def test_duplicate_add_conflicts_and_leaves_the_original(stores: Stores) -> None:
    original = make_client("dup", client_name="original")
    await stores.clients.add(original)

    with pytest.raises(ConflictError, match="'dup' is already registered"):
        await stores.clients.add(make_client("dup", client_name="intruder"))

    assert await stores.clients.get("dup") == original
    assert await stores.clients.revision() == 1


async def test_update_replaces_the_stored_metadata(stores: Stores) -> None:
    await stores.clients.add(make_client("c1"))
    changed = make_client("c1", scope=("read",), tls_client_auth_san_dns=None, jwks_uri="https://x")

    await stores.clients.update(changed)

    assert await stores.clients.get("c1") == changed


async def test_update_of_a_missing_client_is_not_found_and_changes_nothing(stores: Stores) -> None:
    with pytest.raises(NotFoundInStoreError, match="no client 'ghost' to update"):
        await stores.clients.update(make_client("ghost"))

    assert await stores.clients.get("ghost") is None
    assert await stores.clients.revision() == 0


async def test_remove_reports_whether_the_client_existed(stores: Stores) -> None:
    await stores.clients.add(make_client("c1"))

    assert await stores.clients.remove("c1") is True
    assert await stores.clients.get("c1") is None
    assert await stores.clients.remove("c1") is False


async def test_list_is_ordered_by_client_id_in_code_point_order(stores: Stores) -> None:
    ids = ["b", "a", "B", "é", "a-2", "Z", "a_1"]
    for client_id in ids:
        await stores.clients.add(make_client(client_id))

    listed = await stores.clients.list()

    assert [c.client_id for c in listed] == sorted(ids)
    assert listed[0] == make_client("B")


async def test_list_of_an_empty_store_is_empty(stores: Stores) -> None:
    assert await stores.clients.list() == []


async def test_revision_increments_on_each_change_and_not_on_reads(stores: Stores) -> None:
    store = stores.clients
    assert await store.revision() == 0

    await store.add(make_client("c1"))
    await store.add(make_client("c2"))
    assert await store.revision() == 2
    await store.update(make_client("c1", client_name="renamed"))
    assert await store.revision() == 3
    await store.remove("c2")
    assert await store.revision() == 4

    await store.get("c1")
    await store.list()
    await store.remove("c2")  # nothing removed: no change
    assert await store.revision() == 4


async def test_metadata_without_a_json_form_is_rejected_before_storing(stores: Stores) -> None:
    with pytest.raises(ValueError, match="'c1': metadata is not JSON"):
        await stores.clients.add(make_client("c1", extra={"blob": b"\x00"}))
    await stores.clients.add(make_client("c2"))
    with pytest.raises(ValueError, match="'c2': metadata is not JSON"):
        await stores.clients.update(make_client("c2", extra={"n": float("nan")}))

    assert await stores.clients.get("c1") is None
    assert await stores.clients.get("c2") == make_client("c2")
    assert await stores.clients.revision() == 1


async def test_concurrent_adds_of_distinct_clients_all_land(stores: Stores) -> None:
    await asyncio.gather(*(stores.clients.add(make_client(f"c{i:02}")) for i in range(20)))

    assert [c.client_id for c in await stores.clients.list()] == [f"c{i:02}" for i in range(20)]
    assert await stores.clients.revision() == 20


async def test_concurrent_adds_of_one_client_id_let_exactly_one_win(stores: Stores) -> None:
    attempts = [make_client("same", client_name=f"attempt {i}") for i in range(10)]

    results = await asyncio.gather(
        *(stores.clients.add(c) for c in attempts), return_exceptions=True
    )

    winners = [a for a, r in zip(attempts, results, strict=True) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, ConflictError) for r in results if r is not None)
    assert await stores.clients.get("same") == winners[0]
    assert await stores.clients.revision() == 1


# --- SQL only: several processes share one database -------------------------------------------


async def test_another_store_instance_sees_changes_and_the_new_revision(
    sql_backend: Backend,
) -> None:
    async with await sql_backend.open_sql() as first, await sql_backend.open_sql() as second:
        await first.clients.add(make_client("c1"))
        assert await second.clients.get("c1") == make_client("c1")
        assert await second.clients.revision() == 1

        await second.clients.update(make_client("c1", client_name="by the CLI"))
        assert (await first.clients.get("c1")) == make_client("c1", client_name="by the CLI")
        assert await first.clients.revision() == 2


async def test_a_corrupt_stored_row_is_a_storage_error(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores:
        now = {"created_at": 0, "updated_at": 0}
        async with stores.engine.begin() as connection:
            await connection.execute(
                insert(clients),
                [
                    {"client_id": "not-json", "metadata": "{", **now},
                    {"client_id": "not-object", "metadata": "[1]", **now},
                    {"client_id": "not-client", "metadata": '{"client_id": "x"}', **now},
                ],
            )

        with pytest.raises(StorageError, match="metadata is not JSON"):
            await stores.clients.get("not-json")
        with pytest.raises(StorageError, match="is not a client object"):
            await stores.clients.get("not-object")
        with pytest.raises(StorageError, match=r"stored client 'x': .*token_endpoint_auth_method"):
            await stores.clients.get("not-client")
        with pytest.raises(StorageError):
            await stores.clients.list()


async def test_a_missing_revision_counter_is_a_storage_error(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores:
        async with stores.engine.begin() as connection:
            await connection.execute(update(meta).values(key="renamed"))

        with pytest.raises(StorageError, match="clients_revision counter is missing"):
            await stores.clients.revision()
        with pytest.raises(StorageError, match="clients_revision counter is missing"):
            await stores.clients.add(make_client("c1"))
        assert await stores.clients.get("c1") is None  # the add was rolled back


async def test_a_database_failure_during_an_operation_is_a_storage_error(
    sql_backend: Backend,
) -> None:
    async with await sql_backend.open_sql() as stores:
        async with stores.engine.begin() as connection:
            cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
            await connection.exec_driver_sql(f"DROP TABLE clients{cascade}")

        with pytest.raises(StorageError, match=r"^reading client 'c1' failed on .+: \w+"):
            await stores.clients.get("c1")
        with pytest.raises(StorageError, match=r"^adding client 'c1' failed"):
            await stores.clients.add(make_client("c1"))
        assert await stores.clients.revision() == 0
