"""The published signing keys (JWKS), the active one, and their files on disk.

Layout of a key directory (``certbound keys list|rotate|activate|retire`` manage it)::

    <directory>/<kid>.pem     one PKCS#8 private key per file, mode 0600, kid = RFC 7638 thumbprint
    <directory>/state.json    {"active": "<kid>", "published": ["<kid>", ...], "next": ...,
                               "retiring": ..., "created": ...}   (see ``keys._state``)

Every ``published`` key appears in the JWKS (so tokens signed before a rotation still verify, and
a next key is announced before it signs); only ``active`` signs. The directory is 0700.
Creation is race-free between workers: ``state.json`` is published with ``link()``, which fails
when another process got there first, and the loser then loads the winner's key. Rotation
(``keys.rotation``) replaces the file atomically under a lock; the server only reads it
(``keys.reloading``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet as JoseKeySet

from certbound.core.ports import TokenSigner
from certbound.keys._state import (
    STATE_FILE,
    KeyRotationError,
    KeyRotationFailure,
    KeyState,
    PendingKey,
    current_state,
    read_state,
    write_new_file,
)
from certbound.keys.local import LocalSigner, normalize_alg

__all__ = [
    "STATE_FILE",
    "KeyInfo",
    "KeySet",
    "KeyState",
    "PendingKey",
    "list_keys",
    "load_keyset",
    "load_or_create_signing_key",
    "load_signer",
    "read_state",
]


class KeySet:
    """Ordered signing keys with exactly one ``active``; the source of the JWKS document."""

    __slots__ = ("_active", "_signers")

    def __init__(self, signers: Sequence[TokenSigner], active_kid: str | None = None) -> None:
        if not signers:
            raise ValueError("a key set needs at least one key")
        kids = [s.kid for s in signers]
        if len(set(kids)) != len(kids):
            raise ValueError("a key set cannot hold the same kid twice")
        active = kids[0] if active_kid is None else active_kid
        if active not in kids:
            raise ValueError(f"the active kid {active!r} is not in the key set")
        self._signers = tuple(signers)
        self._active = kids.index(active)

    @property
    def active(self) -> TokenSigner:
        """The key that signs new tokens."""
        return self._signers[self._active]

    @property
    def signers(self) -> tuple[TokenSigner, ...]:
        return self._signers

    def get(self, kid: str) -> TokenSigner | None:
        return next((s for s in self._signers if s.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """The RFC 7517 §5 JWK Set: every key's public JWK with ``kid``, ``alg``, ``use: sig``."""
        keys = []
        for signer in self._signers:
            jwk = dict(signer.public_jwk())
            jwk.update(kid=signer.kid, alg=signer.alg, use="sig")
            keys.append(jwk)
        return {"keys": keys}

    def public_keyset(self) -> JoseKeySet:
        """A joserfc KeySet of the public keys, for verifying tokens this server signed."""
        return JoseKeySet.import_key_set(self.jwks())  # type: ignore[arg-type]


def load_signer(directory: Path, kid: str, password: bytes | None = None) -> LocalSigner:
    """The key ``<directory>/<kid>.pem``; ValueError naming the file if unreadable or misnamed."""
    path = directory / f"{kid}.pem"
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read signing key {path}: {exc.strerror}") from None
    try:
        signer = LocalSigner.from_pem(pem, password)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if signer.kid != kid:
        raise ValueError(f"{path}: the key's thumbprint is {signer.kid}, not the file's name")
    return signer


def load_keyset(
    directory: Path, *, password: bytes | None = None, now: float | None = None
) -> KeySet:
    """Load every published key of ``directory``, active as of ``now`` (default: the current
    time); ValueError naming the file on any problem."""
    state = read_state(directory).resolved(time.time() if now is None else now)
    signers = [load_signer(directory, kid, password) for kid in state.published]
    return KeySet(signers, state.active)


_write_new = write_new_file


def _create(directory: Path, alg: str, password: bytes | None) -> LocalSigner:
    """Generate a key and publish it as the only one; FileExistsError if another process won."""
    signer = LocalSigner.generate(alg)
    key_path = directory / f"{signer.kid}.pem"
    _write_new(key_path, signer.to_pem(password))
    staging = directory / f".{STATE_FILE}.{os.getpid()}.{signer.kid}"
    state = {"active": signer.kid, "published": [signer.kid]}
    _write_new(staging, json.dumps(state, indent=2).encode("utf-8") + b"\n")
    try:
        os.link(staging, directory / STATE_FILE)
    except FileExistsError:
        key_path.unlink()
        raise
    finally:
        staging.unlink()
    return signer


def load_or_create_signing_key(
    directory: Path, alg: str = "ES256", *, password: bytes | None = None
) -> LocalSigner:
    """The active signing key of ``directory``, creating the directory and a first key if needed.

    ValueError when the active key signs another algorithm than ``alg`` (rotate instead of
    silently switching) or when the files cannot be read.
    """
    wanted = normalize_alg(alg)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (directory / STATE_FILE).exists():
        with contextlib.suppress(FileExistsError):
            return _create(directory, wanted, password)
    state = read_state(directory).resolved(time.time())
    signer = load_signer(directory, state.active, password)
    if signer.alg != wanted:
        raise ValueError(
            f"the active signing key {signer.kid} in {directory} is {signer.alg}, not {wanted};"
            " rotate the keys to change the algorithm"
        )
    return signer


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One published key as ``keys list`` shows it; times are epoch seconds."""

    kid: str
    alg: str
    state: str  # active | next | retiring | published
    created: int | None
    file: Path
    activate_at: int | None = None  # next keys with an automatic activation
    not_after: int | None = None  # retiring keys: no token they signed is valid after this

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state,
            "created": self.created,
            "file": str(self.file),
            "activate_at": self.activate_at,
            "not_after": self.not_after,
        }


def list_keys(
    directory: Path, *, password: bytes | None = None, now: float | None = None
) -> list[KeyInfo]:
    """Every published key, in JWKS order, with its role as of ``now``."""
    state = current_state(directory, int(time.time() if now is None else now))
    out = []
    for kid in state.published:
        try:
            signer = load_signer(directory, kid, password)
        except ValueError as exc:
            raise KeyRotationError(KeyRotationFailure.BAD_STATE, str(exc)) from None
        path = directory / f"{kid}.pem"
        pending = state.next if state.next is not None and state.next.kid == kid else None
        out.append(
            KeyInfo(
                kid=kid,
                alg=signer.alg,
                state=state.role(kid),
                created=state.created.get(kid, int(path.stat().st_mtime)),
                file=path,
                activate_at=pending.activate_at if pending else None,
                not_after=state.retiring.get(kid),
            )
        )
    return out
