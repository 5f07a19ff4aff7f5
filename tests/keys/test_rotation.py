"""keys._state, keys.rotation and keys.reloading: the rotation model, its files, hot reload.

Times are explicit epoch seconds (``now=``) so the model is tested at exact boundaries; the
reloading key set gets injected clocks for the same reason. Keys and files are real.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import JoseError

from certbound.keys import STATE_FILE, load_keyset, load_or_create_signing_key
from certbound.keys._state import KeyState, PendingKey, read_state, write_state
from certbound.keys.reloading import ReloadingKeySet
from certbound.keys.rotation import (
    JWKS_MAX_AGE,
    KeyRotationError,
    KeyRotationFailure,
    activate,
    list_keys,
    retire,
    rotate,
)

T0 = 1_700_000_000
LIFETIME = 600


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    load_or_create_signing_key(directory)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def refused(reason: KeyRotationFailure, directory: Path, call: Any, *args: Any, **kw: Any) -> str:
    """Run ``call``; it must raise ``reason`` and leave ``directory`` byte for byte as it was."""
    before = snapshot(directory) if directory.is_dir() else None
    with pytest.raises(KeyRotationError) as info:
        call(*args, **kw)
    assert info.value.reason is reason
    assert (snapshot(directory) if directory.is_dir() else None) == before
    return str(info.value)


def verifies(token: str, directory: Path, now: float = T0) -> bool:
    try:
        jwt.decode(token, load_keyset(directory, now=now).public_keyset())
    except JoseError:
        return False
    return True


# --- the state file ---------------------------------------------------------------------------


def test_first_format_state_is_still_read(keydir: Path) -> None:
    state = read_state(keydir)
    assert state.next is None and state.retiring == {} and state.created == {}
    assert state.role(state.active) == "active"


def test_state_round_trips_through_json() -> None:
    state = KeyState("a", ("a", "b", "c"), PendingKey("c", T0, 60), {"b": T0 + 5}, {"a": T0})
    assert KeyState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert [state.role(k) for k in "abc"] == ["active", "retiring", "next"]


def test_a_published_key_with_no_history_has_the_plain_published_role() -> None:
    assert KeyState("a", ("a", "b")).role("b") == "published"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"active": "../x", "published": ["../x"]}, "needs 'active'"),
        ({"active": "a", "published": ["a", "a"]}, "lists a kid twice"),
        ({"active": "a", "published": ["a"], "next": "b"}, "'next' must be an object"),
        ({"active": "a", "published": ["a"], "next": {"kid": "a"}}, "'next.kid' must be"),
        ({"active": "a", "published": ["a", "b"], "next": {"kid": "z"}}, "'next.kid' must be"),
        (
            {"active": "a", "published": ["a", "b"], "next": {"kid": "b", "token_lifetime": 0}},
            "'token_lifetime' \\(> 0\\)",
        ),
        (
            {
                "active": "a",
                "published": ["a", "b"],
                "next": {"kid": "b", "activate_at": True, "token_lifetime": 1},
            },
            "'activate_at' \\(epoch or null\\)",
        ),
        ({"active": "a", "published": ["a"], "retiring": {"a": 1}}, "the active or the next"),
        ({"active": "a", "published": ["a"], "retiring": {"b": 1}}, "not published"),
        ({"active": "a", "published": ["a"], "created": {"a": "x"}}, "'created' must map"),
        ({"active": "a", "published": ["a"], "created": []}, "'created' must map"),
    ],
    ids=[
        "array",
        "path-kid",
        "duplicate",
        "next-not-object",
        "next-is-active",
        "next-unpublished",
        "zero-lifetime",
        "bool-activate-at",
        "retiring-active",
        "retiring-unpublished",
        "created-not-int",
        "created-not-object",
    ],
)
def test_inconsistent_state_is_refused_naming_the_problem(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyState.from_json(data)


def test_pending_key_signs_exactly_from_its_activation_second() -> None:
    state = KeyState("a", ("a", "b"), PendingKey("b", T0, LIFETIME))
    assert state.resolved(T0 - 1) is state
    switched = state.resolved(T0)
    assert (switched.active, switched.next, switched.retiring) == ("b", None, {"a": T0 + LIFETIME})


def test_manual_pending_key_never_activates_by_time() -> None:
    state = KeyState("a", ("a", "b"), PendingKey("b", None, LIFETIME))
    assert state.resolved(T0 + 10**9) is state


def test_the_active_key_cannot_be_unpublished() -> None:
    with pytest.raises(ValueError, match="active key cannot be unpublished"):
        KeyState("a", ("a",)).without("a")


def test_write_state_replaces_the_file_and_leaves_no_temporary(keydir: Path) -> None:
    state = read_state(keydir)
    write_state(keydir, KeyState(state.active, state.published, created={state.active: T0}))
    assert read_state(keydir).created == {state.active: T0}
    assert sorted(p.name for p in keydir.iterdir()) == sorted([f"{state.active}.pem", STATE_FILE])
    assert stat.S_IMODE((keydir / STATE_FILE).stat().st_mode) == 0o600


def test_write_state_that_cannot_rename_removes_its_temporary(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).mkdir()
    (tmp_path / STATE_FILE / "occupied").write_text("x")  # a non-empty directory cannot be replaced
    with pytest.raises(IsADirectoryError):
        write_state(tmp_path, KeyState("a", ("a",)))
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]


# --- rotate -----------------------------------------------------------------------------------


def test_rotate_publishes_a_next_key_that_does_not_sign(keydir: Path) -> None:
    old = read_state(keydir).active
    result = rotate(keydir, token_lifetime=LIFETIME, now=T0)
    assert (result.previous, result.state.active, result.state.next) == (
        old,
        old,
        PendingKey(result.kid, None, LIFETIME),
    )
    keys = load_keyset(keydir, now=T0 + 10**6)
    assert keys.active.kid == old
    assert [k["kid"] for k in keys.jwks()["keys"]] == [old, result.kid]
    assert stat.S_IMODE((keydir / f"{result.kid}.pem").stat().st_mode) == 0o600
    assert read_state(keydir).created[result.kid] == T0


def test_rotate_now_signs_at_once_and_old_tokens_still_verify(keydir: Path) -> None:
    old = load_keyset(keydir).active
    token = old.encode({"sub": "s"}, {})
    result = rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0)
    keys = load_keyset(keydir, now=T0)
    assert keys.active.kid == result.kid != old.kid
    assert result.state.retiring == {old.kid: T0 + LIFETIME} and result.state.next is None
    assert verifies(token, keydir)


def test_rotate_with_delay_activates_by_time_alone(keydir: Path) -> None:
    old = read_state(keydir).active
    result = rotate(keydir, token_lifetime=LIFETIME, activate_after=JWKS_MAX_AGE, now=T0)
    assert load_keyset(keydir, now=T0 + JWKS_MAX_AGE - 1).active.kid == old
    assert load_keyset(keydir, now=T0 + JWKS_MAX_AGE).active.kid == result.kid
    listed = {k.kid: k for k in list_keys(keydir, now=T0 + JWKS_MAX_AGE)}
    assert listed[old].state == "retiring"
    assert listed[old].not_after == T0 + JWKS_MAX_AGE + LIFETIME


@pytest.mark.parametrize(
    ("alg", "expected"), [("Ed25519", "Ed25519"), ("EdDSA", "Ed25519"), ("PS256", "PS256")]
)
def test_rotate_can_change_the_algorithm(keydir: Path, alg: str, expected: str) -> None:
    result = rotate(keydir, alg, token_lifetime=LIFETIME, activate_after=0, now=T0)
    assert load_keyset(keydir, now=T0).active.alg == expected
    assert result.kid in read_state(keydir).published


def test_rotate_refuses_an_unsupported_algorithm(keydir: Path) -> None:
    message = refused(
        KeyRotationFailure.BAD_INPUT, keydir, rotate, keydir, "HS256", token_lifetime=1
    )
    assert "unsupported signing algorithm 'HS256'" in message


@pytest.mark.parametrize(
    "kwargs",
    [{"token_lifetime": -1}, {"token_lifetime": 1, "activate_after": -5}],
    ids=["lifetime", "delay"],
)
def test_rotate_refuses_negative_seconds(keydir: Path, kwargs: dict[str, int]) -> None:
    assert ">= 0" in refused(KeyRotationFailure.BAD_INPUT, keydir, rotate, keydir, **kwargs)


def test_rotate_refuses_while_a_next_key_waits(keydir: Path) -> None:
    waiting = rotate(keydir, token_lifetime=LIFETIME, now=T0).kid
    message = refused(
        KeyRotationFailure.PENDING_KEY, keydir, rotate, keydir, token_lifetime=1, now=T0
    )
    assert waiting in message


def test_rotate_after_the_pending_key_activated_by_time_is_allowed(keydir: Path) -> None:
    first = rotate(keydir, token_lifetime=LIFETIME, activate_after=10, now=T0).kid
    second = rotate(keydir, token_lifetime=LIFETIME, now=T0 + 10)
    assert second.previous == first
    assert read_state(keydir).active == first  # the due switch was written down


@pytest.mark.parametrize("missing", ["directory", "state"])
def test_rotate_without_keys_says_the_server_creates_them(tmp_path: Path, missing: str) -> None:
    directory = tmp_path / "keys"
    if missing == "state":
        directory.mkdir()
    message = refused(KeyRotationFailure.NO_KEYS, directory, rotate, directory, token_lifetime=1)
    assert "creates the first on its first start" in message


def test_rotate_refuses_a_corrupt_state_and_writes_nothing(keydir: Path) -> None:
    (keydir / STATE_FILE).write_text("{broken")
    message = refused(KeyRotationFailure.BAD_STATE, keydir, rotate, keydir, token_lifetime=1)
    assert STATE_FILE in message


def test_rotate_that_cannot_write_the_state_removes_the_new_key(
    keydir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(directory: Path, state: KeyState) -> None:  # fault injection: ENOSPC
        raise OSError(28, "No space left on device")

    before = snapshot(keydir)
    monkeypatch.setattr("certbound.keys.rotation.write_state", disk_full)
    with pytest.raises(OSError, match="No space left"):
        rotate(keydir, token_lifetime=1)
    assert snapshot(keydir) == before


def test_concurrent_rotations_lose_no_key(keydir: Path) -> None:
    barrier = threading.Barrier(6)
    kids: list[str] = []

    def run() -> None:
        barrier.wait(timeout=10)
        kids.append(rotate(keydir, token_lifetime=LIFETIME, activate_after=0).kid)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    state = read_state(keydir)
    assert len(kids) == 6 and set(kids) <= set(state.published) and len(state.published) == 7
    assert all((keydir / f"{kid}.pem").is_file() for kid in state.published)


# --- activate ---------------------------------------------------------------------------------


def test_activate_makes_the_next_key_sign(keydir: Path) -> None:
    old = read_state(keydir).active
    new = rotate(keydir, token_lifetime=LIFETIME, now=T0).kid
    result = activate(keydir, new, token_lifetime=900, now=T0 + 400)
    assert (result.changed, result.previous) == (True, old)
    state = read_state(keydir)
    assert (state.active, state.next, state.retiring) == (new, None, {old: T0 + 400 + 900})


def test_activate_a_retiring_key_rolls_back(keydir: Path) -> None:
    old = read_state(keydir).active
    new = rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0).kid
    activate(keydir, old, token_lifetime=LIFETIME, now=T0 + 1)
    state = read_state(keydir)
    assert (state.active, state.retiring) == (old, {new: T0 + 1 + LIFETIME})


def test_activate_the_active_key_changes_nothing(keydir: Path) -> None:
    active = read_state(keydir).active
    before = snapshot(keydir)
    assert activate(keydir, active, token_lifetime=LIFETIME).changed is False
    assert snapshot(keydir) == before


def test_activate_refuses_an_unknown_kid(keydir: Path) -> None:
    message = refused(
        KeyRotationFailure.UNKNOWN_KID, keydir, activate, keydir, "nope", token_lifetime=1
    )
    assert "no published key 'nope'" in message


def test_activate_refuses_a_negative_lifetime(keydir: Path) -> None:
    active = read_state(keydir).active
    refused(KeyRotationFailure.BAD_INPUT, keydir, activate, keydir, active, token_lifetime=-1)


# --- retire -----------------------------------------------------------------------------------


def test_retire_after_the_last_token_expired_unpublishes_and_deletes(keydir: Path) -> None:
    old = load_keyset(keydir).active
    token = old.encode({"sub": "s"}, {})
    rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0)
    result = retire(keydir, old.kid, now=T0 + LIFETIME)
    assert result.early is False
    assert old.kid not in result.state.published and old.kid not in result.state.created
    assert not (keydir / f"{old.kid}.pem").exists()
    assert old.kid not in [k["kid"] for k in load_keyset(keydir).jwks()["keys"]]
    assert not verifies(token, keydir)


def test_retire_refuses_while_tokens_may_be_valid(keydir: Path) -> None:
    old = read_state(keydir).active
    rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0)
    message = refused(
        KeyRotationFailure.TOKENS_MAY_BE_VALID, keydir, retire, keydir, old, now=T0 + LIFETIME - 1
    )
    assert "may be valid for 1 s more" in message


def test_retire_with_force_before_expiry_is_reported_as_early(keydir: Path) -> None:
    old = read_state(keydir).active
    rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0)
    assert retire(keydir, old, force=True, now=T0 + 1).early is True
    assert read_state(keydir).published == (read_state(keydir).active,)


def test_retire_refuses_the_active_key(keydir: Path) -> None:
    active = read_state(keydir).active
    message = refused(KeyRotationFailure.ACTIVE_KEY, keydir, retire, keydir, active, force=True)
    assert "is the active signing key" in message


def test_retire_refuses_a_key_that_activated_by_time(keydir: Path) -> None:
    new = rotate(keydir, token_lifetime=LIFETIME, activate_after=5, now=T0).kid
    refused(KeyRotationFailure.ACTIVE_KEY, keydir, retire, keydir, new, force=True, now=T0 + 5)


def test_retire_refuses_an_unknown_kid(keydir: Path) -> None:
    refused(KeyRotationFailure.UNKNOWN_KID, keydir, retire, keydir, "nope", force=True)


def test_retire_a_next_key_that_never_signed_needs_no_force(keydir: Path) -> None:
    new = rotate(keydir, token_lifetime=LIFETIME, now=T0).kid
    result = retire(keydir, new, now=T0)
    assert (result.early, result.state.next) == (False, None)


def test_retire_a_key_with_no_history_needs_force(keydir: Path) -> None:
    state = read_state(keydir)
    extra = rotate(keydir, token_lifetime=LIFETIME, now=T0).kid
    write_state(keydir, KeyState(state.active, (state.active, extra)))  # hand-edited, no history
    message = refused(KeyRotationFailure.TOKENS_MAY_BE_VALID, keydir, retire, keydir, extra)
    assert "no record of when it stopped signing" in message


# --- list -------------------------------------------------------------------------------------


def test_list_shows_every_key_with_its_role_and_times(keydir: Path) -> None:
    first = read_state(keydir).active
    second = rotate(keydir, "Ed25519", token_lifetime=LIFETIME, activate_after=0, now=T0).kid
    third = rotate(keydir, token_lifetime=LIFETIME, activate_after=60, now=T0 + 1).kid
    infos = list_keys(keydir, now=T0 + 2)
    assert [(i.kid, i.alg, i.state) for i in infos] == [
        (first, "ES256", "retiring"),
        (second, "Ed25519", "active"),
        (third, "ES256", "next"),
    ]
    assert (infos[0].not_after, infos[2].activate_at, infos[2].created) == (
        T0 + LIFETIME,
        T0 + 61,
        T0 + 1,
    )
    assert infos[0].created == int((keydir / f"{first}.pem").stat().st_mtime)  # no record: mtime
    assert infos[1].to_json()["file"] == str(keydir / f"{second}.pem")


def test_list_names_a_missing_key_file(keydir: Path) -> None:
    new = rotate(keydir, token_lifetime=LIFETIME).kid
    (keydir / f"{new}.pem").unlink()
    with pytest.raises(KeyRotationError, match=rf"cannot read signing key .*{new}\.pem") as info:
        list_keys(keydir)
    assert info.value.reason is KeyRotationFailure.BAD_STATE


# --- ReloadingKeySet --------------------------------------------------------------------------


class Clocks:
    def __init__(self) -> None:
        self.wall = float(T0)
        self.mono = 0.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def reloading(directory: Path, clocks: Clocks) -> ReloadingKeySet:
    return ReloadingKeySet(directory, clock=lambda: clocks.wall, monotonic=lambda: clocks.mono)


def test_reloading_keyset_serves_what_load_keyset_loads(keydir: Path) -> None:
    rotate(keydir, "Ed25519", token_lifetime=LIFETIME)
    keys, plain = ReloadingKeySet(keydir), load_keyset(keydir)
    assert keys.jwks() == plain.jwks() and keys.active.kid == plain.active.kid
    assert [s.kid for s in keys.signers] == [s.kid for s in plain.signers]
    assert keys.get(plain.active.kid) is keys.active and keys.get("nope") is None
    token = keys.active.encode({"n": 1}, {})
    assert jwt.decode(token, keys.public_keyset()).claims == {"n": 1}
    assert keys.directory == keydir


def test_reloading_keyset_refuses_a_directory_it_cannot_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"cannot read .*{STATE_FILE}"):
        ReloadingKeySet(tmp_path)


def test_reloading_keyset_follows_a_rotation_after_its_interval(keydir: Path) -> None:
    clocks = Clocks()
    keys = reloading(keydir, clocks)
    old = keys.active
    new = rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0).kid
    clocks.advance(0.5)
    assert keys.active is old  # within the interval nothing is re-read
    clocks.advance(0.5)
    assert keys.active.kid == new
    assert keys.get(old.kid) is old  # a known key is reused, not re-read


def test_reloading_keyset_does_not_stat_within_its_interval(
    keydir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clocks = Clocks()
    keys = reloading(keydir, clocks)
    calls: list[str] = []
    real_stat = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        calls.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(100):
        keys.jwks()
    assert calls == []
    clocks.advance(1)
    for _ in range(100):
        keys.active  # noqa: B018
    assert calls == [str(keydir / STATE_FILE)]


def test_reloading_keyset_switches_to_a_pending_key_at_its_time(keydir: Path) -> None:
    clocks = Clocks()
    new = rotate(keydir, token_lifetime=LIFETIME, activate_after=30, now=T0).kid
    keys = reloading(keydir, clocks)
    old = keys.active.kid
    clocks.wall += 29
    assert keys.active.kid == old
    clocks.wall += 1  # no file change, no stat: the time alone switches
    assert keys.active.kid == new
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old, new}


def test_reloading_keyset_drops_a_retired_key(keydir: Path) -> None:
    clocks = Clocks()
    old = read_state(keydir).active
    rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0)
    keys = reloading(keydir, clocks)
    retire(keydir, old, force=True)
    clocks.advance(1)
    assert old not in [k["kid"] for k in keys.jwks()["keys"]]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_reloading_keyset_keeps_its_keys_when_the_state_breaks(
    keydir: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    clocks = Clocks()
    keys = reloading(keydir, clocks)
    jwks = keys.jwks()
    if damage == "corrupt":
        (keydir / STATE_FILE).write_text("{broken")
    else:
        (keydir / STATE_FILE).unlink()
    with caplog.at_level(logging.WARNING, logger="certbound.keys"):
        for _ in range(3):
            clocks.advance(1)
            assert keys.jwks() == jwks
    assert len(caplog.records) == 1  # logged once per bad version, not every second
    assert "previous ones stay" in caplog.records[0].getMessage()


def test_reloading_keyset_recovers_when_the_state_is_repaired(keydir: Path) -> None:
    clocks = Clocks()
    keys = reloading(keydir, clocks)
    good = (keydir / STATE_FILE).read_bytes()
    (keydir / STATE_FILE).write_text("{broken")
    clocks.advance(1)
    old = keys.active
    assert keys.active is old  # the broken file is ignored
    (keydir / STATE_FILE).write_bytes(good)
    rotated = rotate(keydir, token_lifetime=LIFETIME, activate_after=0, now=T0).kid
    clocks.advance(1)
    assert keys.active.kid == rotated


def test_reloading_keyset_forced_reload_raises_on_a_broken_state(keydir: Path) -> None:
    keys = ReloadingKeySet(keydir)
    jwks = keys.jwks()
    (keydir / STATE_FILE).write_text(json.dumps({"active": "a"}))
    with pytest.raises(ValueError, match="needs 'active'"):
        keys.reload()
    assert keys.jwks() == jwks


def test_reloading_keyset_forced_reload_sees_a_change_at_once(keydir: Path) -> None:
    keys = ReloadingKeySet(keydir, interval=3600)
    new = rotate(keydir, token_lifetime=LIFETIME, activate_after=0).kid
    keys.reload()
    assert keys.active.kid == new


def test_reloading_keyset_serves_old_or_new_keys_to_concurrent_readers(keydir: Path) -> None:
    keys = ReloadingKeySet(keydir, interval=0)
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                seen.add(keys.active.kid)
                assert keys.jwks()["keys"]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    kids = {read_state(keydir).active}
    for _ in range(3):
        kids.add(rotate(keydir, token_lifetime=LIFETIME, activate_after=0).kid)
    stop.set()
    for reader in readers:
        reader.join(timeout=10)
    assert not errors and seen <= kids
    keys.reload()
    assert keys.active.kid == read_state(keydir).active
