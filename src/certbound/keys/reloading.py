"""The signing keys of a running server, following ``state.json`` without a restart.

:class:`ReloadingKeySet` has the :class:`~certbound.keys.keyset.KeySet` surface the Provider uses
(``active``, ``jwks()``, ``public_keyset()``). It keeps an immutable snapshot and, at most once
per ``interval`` (1 s), compares ``os.stat`` of ``state.json`` (inode, mtime, size: writers replace
the file by rename, so every change is a new inode) with the snapshot's. Only a change re-reads the
file; keys already loaded are reused by kid (a kid is the key's RFC 7638 thumbprint, so the same
kid is the same key). So ``certbound keys rotate`` in another process takes effect within about a
second. A pending ``next`` key whose ``activate_at`` arrives is switched to without any I/O.

A state that cannot be loaded (a corrupt file, a missing key) is logged once and the last good
snapshot keeps serving: a bad edit never takes the server's keys away. A snapshot is swapped in
with one attribute store, so a request sees the old keys or the new ones, never a mix.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet as JoseKeySet

from certbound.core.ports import TokenSigner
from certbound.keys._state import STATE_FILE, KeyState
from certbound.keys.keyset import KeySet, load_signer

__all__ = ["ReloadingKeySet"]

log = logging.getLogger("certbound.keys")

_Signature = tuple[int, int, int]  # st_ino, st_mtime_ns, st_size
_MISSING: _Signature = (0, 0, 0)


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    signature: _Signature
    state: KeyState  # as on disk (unresolved)
    signers: Mapping[str, TokenSigner]
    keys: KeySet  # as of the time it was built
    switch_at: int | None  # a next key's activate_at still ahead: rebuild when it passes


def _build(
    signature: _Signature, state: KeyState, signers: Mapping[str, TokenSigner], now: float
) -> _Snapshot:
    current = state.resolved(now)
    keys = KeySet([signers[kid] for kid in current.published], current.active)
    pending = current.next
    switch_at = pending.activate_at if pending is not None else None
    return _Snapshot(signature, state, signers, keys, switch_at)


class ReloadingKeySet:
    """The key directory's current :class:`KeySet` (see the module docstring)."""

    __slots__ = (
        "_checked_at",
        "_clock",
        "_directory",
        "_failed",
        "_interval",
        "_lock",
        "_monotonic",
        "_password",
        "_snapshot",
    )

    def __init__(
        self,
        directory: Path,
        *,
        password: bytes | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load ``directory`` now; ValueError naming the file if it cannot be loaded."""
        self._directory = directory
        self._password = password
        self._interval = interval
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failed: _Signature | None = None
        self._snapshot = self._load({})
        self._checked_at = monotonic()

    @property
    def directory(self) -> Path:
        return self._directory

    def current(self) -> KeySet:
        """The key set in force now (checking the directory at most once per interval)."""
        snapshot = self._snapshot
        if self._monotonic() - self._checked_at >= self._interval:
            snapshot = self._refresh()
        if snapshot.switch_at is not None and self._clock() >= snapshot.switch_at:
            snapshot = _build(snapshot.signature, snapshot.state, snapshot.signers, self._clock())
            self._snapshot = snapshot
        return snapshot.keys

    @property
    def active(self) -> TokenSigner:
        """The key that signs new tokens."""
        return self.current().active

    @property
    def signers(self) -> tuple[TokenSigner, ...]:
        return self.current().signers

    def get(self, kid: str) -> TokenSigner | None:
        return self.current().get(kid)

    def jwks(self) -> dict[str, Any]:
        """The RFC 7517 §5 JWK Set of every published key."""
        return self.current().jwks()

    def public_keyset(self) -> JoseKeySet:
        """A joserfc KeySet of the published public keys."""
        return self.current().public_keyset()

    def reload(self) -> None:
        """Re-read the directory now, whatever its signature; ValueError if it cannot be loaded
        (the previous keys stay in force)."""
        with self._lock:
            self._checked_at = self._monotonic()
            self._snapshot = self._load(self._snapshot.signers)

    def _refresh(self) -> _Snapshot:
        """The snapshot after a cheap ``stat``: unchanged, reloaded, or (on failure) the old one."""
        if not self._lock.acquire(blocking=False):
            return self._snapshot  # another thread is checking
        try:
            self._checked_at = self._monotonic()
            try:
                signature = _signature(os.stat(self._directory / STATE_FILE))
            except OSError:
                signature = _MISSING  # _load says why
            if signature not in (self._snapshot.signature, self._failed):
                try:
                    self._snapshot = self._load(self._snapshot.signers)
                except ValueError as exc:
                    self._failed = signature  # logged once per bad version of the file
                    log.warning("signing keys not reloaded, the previous ones stay: %s", exc)
            return self._snapshot
        finally:
            self._lock.release()

    def _load(self, known: Mapping[str, TokenSigner]) -> _Snapshot:
        """Read ``state.json`` and its keys (reusing ``known`` signers); ValueError on problems."""
        signature, state = self._read_state()
        signers = {
            kid: known.get(kid) or load_signer(self._directory, kid, self._password)
            for kid in state.published
        }
        snapshot = _build(signature, state, signers, self._clock())
        self._failed = None
        if known:
            log.info(
                "signing keys reloaded: active %s, published %s",
                snapshot.keys.active.kid,
                ", ".join(state.published),
            )
        return snapshot

    def _read_state(self) -> tuple[_Signature, KeyState]:
        """The state and the signature of the very file it was read from."""
        path = self._directory / STATE_FILE
        try:
            with path.open("rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                data = json.loads(handle.read())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from None
        try:
            return signature, KeyState.from_json(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
