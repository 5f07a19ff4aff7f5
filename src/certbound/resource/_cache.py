"""A bounded least-recently-used cache whose entries expire at a time given with each entry.

Keys are the SHA-256 of the token (:func:`token_key`), so the cache never holds a usable token.
Not thread-safe: one instance per event loop, which is how the verifiers use it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["ExpiringLru", "token_key"]

V = TypeVar("V")


def token_key(token: str) -> bytes:
    """The cache key of a token: its SHA-256 digest."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class ExpiringLru(Generic[V]):
    """At most ``max_entries`` values, each dropped at its ``expires_at`` (the clock of ``now``)."""

    __slots__ = ("_entries", "_max")

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a cache needs room for at least one entry")
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> V | None:
        """The value under ``key`` if it has not expired at ``now`` (and mark it recently used)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: bytes, value: V, expires_at: float) -> None:
        """Store ``value`` until ``expires_at``, evicting the least recently used when full."""
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
