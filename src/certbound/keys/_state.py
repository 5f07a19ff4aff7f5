"""``state.json`` of a signing-key directory: which keys are published, active, next, retiring.

The format (every member but ``active`` and ``published`` optional, so the first version of the
file is still valid)::

    {"active": "<kid>",                       the key that signs
     "published": ["<kid>", ...],             every key in the JWKS (RFC 7517 §5)
     "next": {"kid": "<kid>",                 a published key waiting to sign ...
              "activate_at": 1700000000,      ... from this epoch second, or null: `keys activate`
              "token_lifetime": 600},         ... seconds the key it replaces stays needed
     "retiring": {"<kid>": 1700000600},       former active keys: no token they signed is valid
                                              after this epoch second (then `keys retire`)
     "created": {"<kid>": 1690000000}}        when each key was generated

A ``next`` key whose ``activate_at`` has passed *is* the active key (:meth:`KeyState.resolved`):
every reader computes the same switch at the same second, so a server never writes the file.
Writers hold :func:`locked` and replace the file atomically (:func:`write_state`).
"""

from __future__ import annotations

import enum
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, TypeGuard

__all__ = [
    "STATE_FILE",
    "KeyRotationError",
    "KeyRotationFailure",
    "KeyState",
    "PendingKey",
    "current_state",
    "locked",
    "read_state",
    "write_new_file",
    "write_state",
]

STATE_FILE: Final = "state.json"
_KID: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")  # RFC 7638 thumbprints are base64url


class KeyRotationFailure(enum.StrEnum):
    """Why a key operation was refused (the CLI maps each to an exit code)."""

    NO_KEYS = "no_keys"  # no state.json: the server creates the first key on its first start
    BAD_STATE = "bad_state"  # state.json or a key file is unreadable or inconsistent
    BAD_INPUT = "bad_input"  # an unsupported algorithm, a negative number of seconds
    UNKNOWN_KID = "unknown_kid"
    ACTIVE_KEY = "active_key"  # the active key cannot be retired
    PENDING_KEY = "pending_key"  # a next key is already waiting
    TOKENS_MAY_BE_VALID = "tokens_may_be_valid"  # retiring now would break unexpired tokens


class KeyRotationError(ValueError):
    """A refused key operation; ``reason`` says why, the message names the key or file."""

    def __init__(self, reason: KeyRotationFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PendingKey:
    """A published key waiting to sign: at ``activate_at`` (epoch seconds), or, when None, once
    ``keys activate`` is run. ``token_lifetime``: how long the key it replaces stays needed."""

    kid: str
    activate_at: int | None
    token_lifetime: int


@dataclass(frozen=True, slots=True)
class KeyState:
    """The contents of ``state.json`` (see the module docstring); every kid is in ``published``."""

    active: str
    published: tuple[str, ...]
    next: PendingKey | None = None
    retiring: Mapping[str, int] = field(default_factory=dict)
    created: Mapping[str, int] = field(default_factory=dict)

    def role(self, kid: str) -> str:
        """``active``, ``next``, ``retiring`` or plain ``published`` (a key with no history)."""
        if kid == self.active:
            return "active"
        if self.next is not None and kid == self.next.kid:
            return "next"
        return "retiring" if kid in self.retiring else "published"

    def switched_to(self, kid: str, at: int, token_lifetime: int) -> KeyState:
        """``kid`` signs from ``at``; the former active key retires ``token_lifetime`` later."""
        retiring = {k: v for k, v in self.retiring.items() if k != kid}
        retiring[self.active] = at + token_lifetime
        pending = None if self.next is None or self.next.kid == kid else self.next
        return replace(self, active=kid, next=pending, retiring=retiring)

    def with_next(self, pending: PendingKey, created_at: int) -> KeyState:
        """``pending.kid`` published as the next key, generated at ``created_at``."""
        published = (*self.published, pending.kid)
        created = {**self.created, pending.kid: created_at}
        return replace(self, published=published, next=pending, created=created)

    def without(self, kid: str) -> KeyState:
        """``kid`` unpublished and forgotten; ValueError for the active key."""
        if kid == self.active:
            raise ValueError("the active key cannot be unpublished")
        return KeyState(
            self.active,
            tuple(k for k in self.published if k != kid),
            None if self.next is not None and self.next.kid == kid else self.next,
            {k: v for k, v in self.retiring.items() if k != kid},
            {k: v for k, v in self.created.items() if k != kid},
        )

    def resolved(self, now: float) -> KeyState:
        """The state at ``now``: a ``next`` key whose ``activate_at`` has passed is active."""
        pending = self.next
        if pending is None or pending.activate_at is None or now < pending.activate_at:
            return self
        return self.switched_to(pending.kid, pending.activate_at, pending.token_lifetime)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"active": self.active, "published": list(self.published)}
        if self.next is not None:
            out["next"] = {
                "kid": self.next.kid,
                "activate_at": self.next.activate_at,
                "token_lifetime": self.next.token_lifetime,
            }
        out["retiring"] = dict(self.retiring)
        out["created"] = dict(self.created)
        return out

    @classmethod
    def from_json(cls, data: Any) -> KeyState:
        """Validate a decoded ``state.json``; ValueError naming the first problem."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        active, published = data.get("active"), data.get("published")
        if not isinstance(active, str) or not _is_kid_list(published) or active not in published:
            raise ValueError("needs 'active' (a kid) listed in 'published' (a list of kids)")
        if len(set(published)) != len(published):
            raise ValueError("'published' lists a kid twice")
        pending = _pending(data.get("next"), published, active)
        retiring = _epochs(data.get("retiring"), "retiring", published)
        if active in retiring or (pending is not None and pending.kid in retiring):
            raise ValueError("'retiring' lists the active or the next key")
        created = _epochs(data.get("created"), "created", published)
        return cls(active, tuple(published), pending, retiring, created)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_kid_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(
        isinstance(k, str) and _KID.fullmatch(k) is not None for k in value
    )


def _pending(value: Any, published: list[str], active: str) -> PendingKey | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("'next' must be an object")
    kid, at, lifetime = value.get("kid"), value.get("activate_at"), value.get("token_lifetime")
    if not isinstance(kid, str) or kid not in published or kid == active:
        raise ValueError("'next.kid' must be a published kid other than the active one")
    if not _is_int(lifetime) or lifetime <= 0 or not (at is None or _is_int(at)):
        raise ValueError("'next' needs 'activate_at' (epoch or null) and 'token_lifetime' (> 0)")
    return PendingKey(kid, at, lifetime)


def _epochs(value: Any, name: str, published: list[str]) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(_is_int(v) for v in value.values()):
        raise ValueError(f"'{name}' must map kids to epoch seconds")
    if not set(value) <= set(published):
        raise ValueError(f"'{name}' lists a kid that is not published")
    return dict(value)


def read_state(directory: Path) -> KeyState:
    """Parse ``<directory>/state.json``; ValueError naming the file on any problem."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    try:
        return KeyState.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_state(directory: Path, state: KeyState) -> None:
    """Replace ``state.json`` atomically (temp file, fsync, rename, fsync of the directory):
    a reader sees the old or the new file, never a mix. Callers serialize writers."""
    staging = directory / f".{STATE_FILE}.{os.getpid()}.{time.monotonic_ns()}"
    write_new_file(staging, json.dumps(state.to_json(), indent=2).encode("utf-8") + b"\n")
    try:
        os.replace(staging, directory / STATE_FILE)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (``O_EXCL``: FileExistsError when it exists), fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the directory itself: one writer of ``state.json`` at a
    time across processes (readers need no lock: the file is only ever replaced whole)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def current_state(directory: Path, now: int) -> KeyState:
    """The state of ``directory`` as of ``now``, or KeyRotationError (NO_KEYS / BAD_STATE)."""
    if not (directory / STATE_FILE).is_file():
        raise KeyRotationError(
            KeyRotationFailure.NO_KEYS,
            f"no signing keys in {directory}: the server creates the first on its first start",
        )
    try:
        return read_state(directory).resolved(now)
    except ValueError as exc:
        raise KeyRotationError(KeyRotationFailure.BAD_STATE, str(exc)) from None
