"""RFC 7592 registration access token stores: hashes only, one per client, gone with the client
(SQL: ON DELETE CASCADE, whatever removed the client); SQLite file and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from certbound.core.clients import Client
from certbound.storage import NotFoundInStoreError
from certbound.storage.registration_tokens import (
    MemoryRegistrationTokenStore,
    SqlRegistrationTokenStore,
)

if TYPE_CHECKING:
    from conftest import Backend  # tests/storage/conftest.py

CLIENT = Client("c-1", "tls_client_auth", tls_client_auth_san_dns="c.example")


async def test_a_token_hash_is_stored_replaced_and_removed(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores:
        tokens = SqlRegistrationTokenStore(stores.engine)
        await stores.clients.add(CLIENT)
        assert await tokens.get("c-1") is None

        await tokens.put("c-1", "a" * 64, 100)
        await tokens.put("c-1", "b" * 64, 200)

        assert await tokens.get("c-1") == "b" * 64
        assert await tokens.remove("c-1") is True
        assert await tokens.remove("c-1") is False
        assert await tokens.get("c-1") is None


async def test_a_token_needs_an_existing_client(sql_backend: Backend) -> None:
    async with await sql_backend.open_sql() as stores:
        with pytest.raises(NotFoundInStoreError, match="no client 'ghost'"):
            await SqlRegistrationTokenStore(stores.engine).put("ghost", "a" * 64, 1)


async def test_removing_the_client_removes_its_token_so_a_new_client_never_inherits_it(
    sql_backend: Backend,
) -> None:
    async with await sql_backend.open_sql() as stores:
        tokens = SqlRegistrationTokenStore(stores.engine)
        await stores.clients.add(CLIENT)
        await tokens.put("c-1", "a" * 64, 1)

        assert await stores.clients.remove("c-1") is True
        await stores.clients.add(CLIENT)

        assert await tokens.get("c-1") is None


async def test_the_memory_store_keeps_hashes_per_client() -> None:
    tokens = MemoryRegistrationTokenStore()
    await tokens.put("c-1", "a" * 64, 1)
    assert (await tokens.get("c-1"), await tokens.get("c-2")) == ("a" * 64, None)
    assert (await tokens.remove("c-1"), await tokens.remove("c-1")) == (True, False)
