"""The revoked-token store (RFC 7009 revocation by jti), run on every backend."""

from __future__ import annotations

import pytest

from certbound.storage import MemoryStores, SqlStores

Stores = SqlStores | MemoryStores


async def test_a_revoked_jti_is_revoked_and_others_are_not(stores: Stores) -> None:
    await stores.revoked_tokens.revoke("jti-1", 1_800_000_000)

    assert await stores.revoked_tokens.is_revoked("jti-1") is True
    assert await stores.revoked_tokens.is_revoked("jti-2") is False


async def test_purge_forgets_only_revocations_whose_token_has_expired(stores: Stores) -> None:
    await stores.revoked_tokens.revoke("old", 1_000)
    await stores.revoked_tokens.revoke("at-now", 2_000)
    await stores.revoked_tokens.revoke("live", 2_001)

    assert await stores.revoked_tokens.purge_expired(2_000.9) == 2

    assert await stores.revoked_tokens.is_revoked("old") is False
    assert await stores.revoked_tokens.is_revoked("at-now") is False  # exp <= now: expired
    assert await stores.revoked_tokens.is_revoked("live") is True
    assert await stores.revoked_tokens.purge_expired(2_000) == 0


@pytest.mark.parametrize(("first", "second"), [(5_000, 3_000), (3_000, 5_000)])
async def test_revoking_twice_keeps_the_later_expiry(
    stores: Stores, first: int, second: int
) -> None:
    await stores.revoked_tokens.revoke("jti", first)
    await stores.revoked_tokens.revoke("jti", second)

    assert await stores.revoked_tokens.purge_expired(4_999) == 0
    assert await stores.revoked_tokens.is_revoked("jti") is True
    assert await stores.revoked_tokens.purge_expired(5_000) == 1
