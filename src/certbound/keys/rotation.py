"""Signing-key rotation: publish a next key, let it sign, retire the old one (RFC 7517 §5 JWKS).

The model (as in node-oidc-provider and Keycloak: publish first, sign later, retire last):

1. :func:`rotate` generates a key and *publishes* it as ``next``: it is in the JWKS at once but
   does not sign. It signs at once only with ``activate_after=0`` (``keys rotate --now``), from
   ``now + activate_after`` when that is given (``--activate-after``), or else when
   :func:`activate` is called (``keys activate KID``). Relying parties cache the JWKS (this server
   says ``max-age`` :data:`JWKS_MAX_AGE`), so wait at least that long before a new key signs.
2. When a key becomes active, the key it replaces is ``retiring``: still published, because
   tokens it signed stay valid for up to ``token_lifetime`` seconds (the longest access token
   lifetime in use). Its ``not_after`` is the switch time plus that lifetime.
3. :func:`retire` unpublishes a key and deletes its file. It refuses the active key, and refuses
   a key whose tokens may still be valid (before ``not_after``, or with no record of when it
   stopped signing) unless ``force=True``: such tokens stop verifying at once.

Every change runs under the directory lock and replaces ``state.json`` atomically; an error
leaves the directory as it was. A running server picks changes up by itself (``keys.reloading``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from certbound.core.endpoints.jwks import JWKS_CACHE_CONTROL
from certbound.keys._state import (
    KeyRotationError,
    KeyRotationFailure,
    KeyState,
    PendingKey,
    current_state,
    locked,
    write_new_file,
    write_state,
)
from certbound.keys.keyset import KeyInfo, list_keys
from certbound.keys.local import LocalSigner, normalize_alg

__all__ = [
    "JWKS_MAX_AGE",
    "KeyInfo",
    "KeyRotationError",
    "KeyRotationFailure",
    "RetireResult",
    "RotationResult",
    "activate",
    "list_keys",
    "retire",
    "rotate",
]

JWKS_MAX_AGE: Final = int(JWKS_CACHE_CONTROL.rsplit("max-age=", 1)[1])


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What :func:`rotate` / :func:`activate` did: ``kid`` is the new key, ``previous`` the key
    that signed before; ``changed`` is False when ``kid`` was already active."""

    state: KeyState
    kid: str
    previous: str
    changed: bool = True


@dataclass(frozen=True, slots=True)
class RetireResult:
    """What :func:`retire` did; ``early`` when forced while its tokens may still be valid."""

    state: KeyState
    kid: str
    early: bool


def _now(now: float | None) -> int:
    return int(time.time() if now is None else now)


@contextmanager
def _editing(directory: Path, now: int) -> Iterator[KeyState]:
    """Hold the directory lock and yield the state as of ``now`` (NO_KEYS / BAD_STATE)."""
    if not directory.is_dir():
        current_state(directory, now)  # raises NO_KEYS
    with locked(directory):
        yield current_state(directory, now)


def _require_published(state: KeyState, kid: str) -> None:
    if kid not in state.published:
        raise KeyRotationError(
            KeyRotationFailure.UNKNOWN_KID,
            f"no published key {kid!r}; published: {', '.join(state.published)}",
        )


def _require_seconds(name: str, value: int) -> None:
    if value < 0:
        raise KeyRotationError(KeyRotationFailure.BAD_INPUT, f"{name} must be >= 0, not {value}")


def rotate(
    directory: Path,
    alg: str = "ES256",
    *,
    token_lifetime: int,
    activate_after: int | None = None,
    password: bytes | None = None,
    now: float | None = None,
) -> RotationResult:
    """Generate and publish a key of ``alg``; it signs after ``activate_after`` seconds (0: at
    once), or, when None, once :func:`activate` is called. PENDING_KEY if a next key waits."""
    try:
        name = normalize_alg(alg)
    except ValueError as exc:
        raise KeyRotationError(KeyRotationFailure.BAD_INPUT, str(exc)) from None
    _require_seconds("token_lifetime", token_lifetime)
    if activate_after is not None:
        _require_seconds("activate_after", activate_after)
    at = _now(now)
    with _editing(directory, at) as state:
        if state.next is not None:
            raise KeyRotationError(
                KeyRotationFailure.PENDING_KEY,
                f"key {state.next.kid} is already waiting to sign:"
                " activate it or retire it before rotating again",
            )
        signer = LocalSigner.generate(name)
        when = None if activate_after is None else at + activate_after
        new = state.with_next(PendingKey(signer.kid, when, token_lifetime), at)
        if activate_after == 0:
            new = new.switched_to(signer.kid, at, token_lifetime)
        _write_key_and_state(directory, signer, new, password)
    return RotationResult(new, signer.kid, state.active)


def _write_key_and_state(
    directory: Path, signer: LocalSigner, state: KeyState, password: bytes | None
) -> None:
    """The key file first (0600, O_EXCL), then the state that names it; undo the key on failure."""
    key_path = directory / f"{signer.kid}.pem"
    write_new_file(key_path, signer.to_pem(password))
    try:
        write_state(directory, state)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise


def activate(
    directory: Path, kid: str, *, token_lifetime: int, now: float | None = None
) -> RotationResult:
    """Make the published key ``kid`` sign from now on (a next key, or a retiring one to roll
    back); the key it replaces retires ``token_lifetime`` seconds from now."""
    _require_seconds("token_lifetime", token_lifetime)
    at = _now(now)
    with _editing(directory, at) as state:
        _require_published(state, kid)
        if kid == state.active:
            return RotationResult(state, kid, kid, changed=False)
        new = state.switched_to(kid, at, token_lifetime)
        write_state(directory, new)
    return RotationResult(new, kid, state.active)


def retire(
    directory: Path, kid: str, *, force: bool = False, now: float | None = None
) -> RetireResult:
    """Unpublish ``kid`` and delete its key file. Refuses the active key (ACTIVE_KEY) and, unless
    ``force``, a key whose tokens may still be valid (TOKENS_MAY_BE_VALID)."""
    at = _now(now)
    with _editing(directory, at) as state:
        _require_published(state, kid)
        if kid == state.active:
            raise KeyRotationError(
                KeyRotationFailure.ACTIVE_KEY,
                f"{kid} is the active signing key: rotate and activate another key first",
            )
        early = _tokens_may_be_valid(state, kid, at)
        if early and not force:
            raise KeyRotationError(KeyRotationFailure.TOKENS_MAY_BE_VALID, early)
        new = state.without(kid)
        write_state(directory, new)
        (directory / f"{kid}.pem").unlink(missing_ok=True)
    return RetireResult(new, kid, bool(early))


def _tokens_may_be_valid(state: KeyState, kid: str, now: int) -> str:
    """Why tokens signed by ``kid`` may still be valid at ``now`` ('' when none can be)."""
    role = state.role(kid)
    if role == "next":
        return ""  # never signed
    if role == "published":
        return f"{kid} has no record of when it stopped signing: its tokens may still be valid"
    not_after = state.retiring[kid]
    if now < not_after:
        return (
            f"tokens signed by {kid} may be valid for {not_after - now} s more"
            f" (until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(not_after))})"
        )
    return ""
