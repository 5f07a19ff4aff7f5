"""The replay cache (RFC 7523 §3 item 7: a jti is accepted once until it expires), every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from certbound.storage import MemoryStores, SqlStores

if TYPE_CHECKING:
    from conftest import Backend  # tests/storage/conftest.py


class SettableClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(1_000.0)


@pytest.fixture
async def timed_stores(
    backend: Backend, clock: SettableClock
) -> AsyncIterator[SqlStores | MemoryStores]:
    stores = await backend.open_with_clock(clock)
    try:
        yield stores
    finally:
        await stores.close()


async def test_a_jti_is_accepted_once_and_other_jtis_independently(
    timed_stores: SqlStores | MemoryStores,
) -> None:
    cache = timed_stores.replay_cache

    assert await cache.use("client-1:a", 1_060) is True
    assert await cache.use("client-1:a", 1_060) is False
    assert await cache.use("client-1:a", 9_999) is False
    assert await cache.use("client-2:a", 1_060) is True


async def test_a_jti_is_accepted_again_once_its_record_has_expired(
    timed_stores: SqlStores | MemoryStores, clock: SettableClock
) -> None:
    cache = timed_stores.replay_cache
    assert await cache.use("j", 1_060) is True

    clock.now = 1_059.9
    assert await cache.use("j", 2_000) is False
    clock.now = 1_060  # exp <= now: expired
    assert await cache.use("j", 2_000) is True
    assert await cache.use("j", 2_000) is False  # the new record holds until 2000

    clock.now = 1_999
    assert await cache.use("j", 3_000) is False


async def test_concurrent_uses_of_one_jti_let_exactly_one_through(
    timed_stores: SqlStores | MemoryStores,
) -> None:
    results = await asyncio.gather(
        *(timed_stores.replay_cache.use("raced", 5_000) for _ in range(10)),
        return_exceptions=True,
    )

    assert sorted(results, key=str) == [False] * 9 + [True]


async def test_purge_forgets_only_expired_identifiers(
    timed_stores: SqlStores | MemoryStores,
) -> None:
    cache = timed_stores.replay_cache
    for jti, exp in (("old", 500), ("at-now", 1_000), ("live", 1_001)):
        assert await cache.use(jti, exp) is True

    assert await cache.purge_expired(1_000) == 2

    assert await cache.use("live", 1_001) is False
    assert await cache.purge_expired(1_000) == 0
