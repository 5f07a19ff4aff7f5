"""certbound.storage's curated public surface."""

from __future__ import annotations

import certbound.storage


def test_the_public_names_are_exactly_the_curated_list() -> None:
    assert certbound.storage.__all__ == [
        "ConflictError",
        "MemoryClientStore",
        "MemoryReplayCache",
        "MemoryRevokedTokenStore",
        "MemoryStores",
        "NotFoundInStoreError",
        "SqlClientStore",
        "SqlReplayCache",
        "SqlRevokedTokenStore",
        "SqlStores",
        "StorageError",
        "create_engine",
        "current_revision",
        "head_revision",
        "open_store",
        "require_head",
        "upgrade",
    ]
    assert all(hasattr(certbound.storage, name) for name in certbound.storage.__all__)


def test_storage_errors_are_the_core_ports_errors() -> None:
    from certbound.core import ports

    assert certbound.storage.StorageError is ports.StorageError
    assert issubclass(certbound.storage.ConflictError, ports.StorageError)
    assert issubclass(certbound.storage.NotFoundInStoreError, ports.StorageError)
