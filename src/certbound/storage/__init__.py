"""certbound.storage: the core's storage ports on SQLite, PostgreSQL or memory.

``open_store(url)`` gives migrated SQL stores; ``MemoryStores()`` the ephemeral equivalent.
"""

from certbound.core.ports import ConflictError, NotFoundInStoreError, StorageError
from certbound.storage.engine import create_engine
from certbound.storage.memory import (
    MemoryClientStore,
    MemoryReplayCache,
    MemoryRevokedTokenStore,
    MemoryStores,
)
from certbound.storage.migrate import current_revision, head_revision, require_head, upgrade
from certbound.storage.sql import (
    SqlClientStore,
    SqlReplayCache,
    SqlRevokedTokenStore,
    SqlStores,
    open_store,
)

__all__ = [
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
