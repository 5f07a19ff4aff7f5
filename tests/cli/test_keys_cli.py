"""`certbound keys`: every command through the real entry point, its exit codes and messages.

Exit codes: 0 ok, 1 refused (no keys, corrupt state, a next key waiting, tokens that may still
be valid), 2 bad input (unknown kid, the active key, bad algorithm or flags), 4 storage. A
refused command leaves the key directory byte for byte as it was.
"""

from __future__ import annotations

import io
import json
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from certbound.cli import main
from certbound.keys import STATE_FILE, load_or_create_signing_key
from certbound.keys._state import read_state
from certbound.keys.rotation import list_keys


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def clean_env(no_certbound_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CERTBOUND_* setting from the caller's environment; one line per message."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    load_or_create_signing_key(tmp_path / "keys")
    return tmp_path


def run(*args: str | Path, data_dir: Path | None = None) -> Result:
    """The console script's `main()`, in-process."""
    argv = ["certbound", *map(str, args)]
    if data_dir is not None:  # right after the command: a kid may follow `--`
        argv[3:3] = ["--data-dir", str(data_dir)]
    out, err = io.StringIO(), io.StringIO()
    saved, sys.argv = sys.argv, argv
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    return Result(code, out.getvalue(), err.getvalue())


def ok(*args: str | Path, data_dir: Path) -> Result:
    result = run(*args, data_dir=data_dir)
    assert result.exit_code == 0, result.stderr
    return result


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def refused(*args: str | Path, data_dir: Path, code: int) -> str:
    """The command fails with ``code`` and writes nothing to the key directory."""
    keys = data_dir / "keys"
    before = snapshot(keys) if keys.is_dir() else None
    result = run(*args, data_dir=data_dir)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert (snapshot(keys) if keys.is_dir() else None) == before
    return " ".join(result.stderr.split())


def active(data_dir: Path) -> str:
    return read_state(data_dir / "keys").active


def rotate_now(data_dir: Path) -> str:
    ok("keys", "rotate", "--now", "--token-lifetime", "600", data_dir=data_dir)
    return active(data_dir)


# --- list -------------------------------------------------------------------------------------


def test_list_shows_the_active_key_in_full(data_dir: Path) -> None:
    out = ok("keys", "list", data_dir=data_dir).stdout
    kid = active(data_dir)
    assert kid in out and "ES256" in out and "active" in out
    assert str(data_dir / "keys" / f"{kid}.pem") in out


def test_list_json_is_what_the_library_lists(data_dir: Path) -> None:
    ok("keys", "rotate", "--activate-after", "300", "--token-lifetime", "60", data_dir=data_dir)
    listed = json.loads(ok("keys", "list", "--json", data_dir=data_dir).stdout)
    assert listed == [k.to_json() for k in list_keys(data_dir / "keys")]
    assert [k["state"] for k in listed] == ["active", "next"]
    table = ok("keys", "list", data_dir=data_dir).stdout
    assert "signs from" in table


def test_list_of_a_retiring_key_says_when_it_can_retire(data_dir: Path) -> None:
    rotate_now(data_dir)
    assert "retire after" in ok("keys", "list", data_dir=data_dir).stdout


def test_list_before_the_first_start_says_there_are_no_keys(tmp_path: Path) -> None:
    message = refused("keys", "list", data_dir=tmp_path, code=1)
    assert "no signing keys in" in message and "first start" in message


def test_list_with_a_corrupt_state_names_the_file(data_dir: Path) -> None:
    (data_dir / "keys" / STATE_FILE).write_text("[]")
    message = refused("keys", "list", data_dir=data_dir, code=1)
    assert STATE_FILE in message and "not a JSON object" in message


def test_a_bad_configuration_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[tokens]\nsigning_alg = 'HS256'\n")
    result = run("keys", "list", "--config", str(tmp_path / "bad.toml"))
    assert result.exit_code == 2 and "signing_alg" in result.stderr


# --- rotate -----------------------------------------------------------------------------------


def test_rotate_publishes_a_next_key_and_says_how_to_activate_it(data_dir: Path) -> None:
    old = active(data_dir)
    out = " ".join(
        ok("keys", "rotate", "--token-lifetime", "600", data_dir=data_dir).stdout.split()
    )
    state = read_state(data_dir / "keys")
    assert state.active == old and state.next is not None and state.next.activate_at is None
    sep = "-- " if state.next.kid.startswith("-") else ""
    assert f"certbound keys activate {sep}{state.next.kid}" in out


def test_rotate_now_switches_and_names_the_retiring_key(data_dir: Path) -> None:
    old = active(data_dir)
    out = " ".join(
        ok("keys", "rotate", "--now", "--token-lifetime", "600", data_dir=data_dir).stdout.split()
    )
    new = active(data_dir)
    assert new != old and f"{new} signs new tokens now" in out
    assert f"certbound keys retire {'-- ' if old.startswith('-') else ''}{old}" in out


def test_rotate_with_a_delay_stores_the_activation_time(data_dir: Path) -> None:
    before = int(time.time())
    out = ok(
        "keys", "rotate", "--activate-after", "300", "--token-lifetime", "60", data_dir=data_dir
    ).stdout
    pending = read_state(data_dir / "keys").next
    assert pending is not None and pending.activate_at is not None
    assert before + 300 <= pending.activate_at <= int(time.time()) + 300
    assert pending.token_lifetime == 60 and "it signs from" in out


def test_rotate_to_another_algorithm_reminds_to_change_the_configuration(data_dir: Path) -> None:
    result = ok(
        "keys", "rotate", "--alg", "EdDSA", "--now", "--token-lifetime", "60", data_dir=data_dir
    )
    assert "tokens.signing_alg = 'Ed25519'" in " ".join(result.stderr.split())
    assert list_keys(data_dir / "keys")[-1].alg == "Ed25519"


def test_rotate_refuses_an_unsupported_algorithm(data_dir: Path) -> None:
    message = refused(
        "keys", "rotate", "--alg", "HS256", "--token-lifetime", "60", data_dir=data_dir, code=2
    )
    assert "unsupported signing algorithm 'HS256'" in message


def test_rotate_refuses_now_and_a_delay_together(data_dir: Path) -> None:
    message = refused("keys", "rotate", "--now", "--activate-after", "5", data_dir=data_dir, code=2)
    assert "--now or --activate-after, not both" in message


@pytest.mark.parametrize(
    "flags", [("--activate-after", "-1"), ("--token-lifetime", "0")], ids=["delay", "lifetime"]
)
def test_rotate_refuses_out_of_range_seconds(data_dir: Path, flags: tuple[str, str]) -> None:
    assert flags[0] in refused("keys", "rotate", *flags, data_dir=data_dir, code=2)


def test_rotate_refuses_while_a_next_key_waits(data_dir: Path) -> None:
    ok("keys", "rotate", "--token-lifetime", "60", data_dir=data_dir)
    message = refused("keys", "rotate", "--token-lifetime", "60", data_dir=data_dir, code=1)
    assert "already waiting to sign" in message


def test_rotate_refuses_a_corrupt_state_and_writes_no_key(data_dir: Path) -> None:
    (data_dir / "keys" / STATE_FILE).write_text(json.dumps({"active": "x", "published": []}))
    message = refused("keys", "rotate", "--token-lifetime", "60", data_dir=data_dir, code=1)
    assert STATE_FILE in message


def test_rotate_before_the_first_start_says_there_are_no_keys(tmp_path: Path) -> None:
    assert "no signing keys" in refused(
        "keys", "rotate", "--token-lifetime", "60", data_dir=tmp_path, code=1
    )


def test_rotate_retires_after_the_configured_token_lifetime(data_dir: Path) -> None:
    (data_dir / "c.toml").write_text("[tokens]\naccess_token_lifetime = 1200\n")
    old = active(data_dir)
    before = int(time.time())
    ok("keys", "rotate", "--now", "--config", str(data_dir / "c.toml"), data_dir=data_dir)
    not_after = read_state(data_dir / "keys").retiring[old]
    assert before + 1200 <= not_after <= int(time.time()) + 1200


def test_rotate_retires_after_the_longest_client_token_lifetime(data_dir: Path) -> None:
    metadata = {
        "client_id": "long-lived",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": "CN=client-1",
        "access_token_lifetime": 3600,
    }
    (data_dir / "client.json").write_text(json.dumps(metadata))
    ok("clients", "add", "--metadata", str(data_dir / "client.json"), data_dir=data_dir)
    old = active(data_dir)
    before = int(time.time())
    ok("keys", "rotate", "--now", data_dir=data_dir)
    not_after = read_state(data_dir / "keys").retiring[old]
    assert before + 3600 <= not_after <= int(time.time()) + 3600


def test_rotate_with_an_unusable_database_is_a_storage_error(data_dir: Path) -> None:
    message = refused(
        "keys", "rotate", "--now", "--database-url", "mysql://db/x", data_dir=data_dir, code=4
    )
    assert message.startswith("error: storage:") and "--token-lifetime" in message


# --- activate ---------------------------------------------------------------------------------


def test_activate_makes_the_next_key_sign(data_dir: Path) -> None:
    old = active(data_dir)
    ok("keys", "rotate", "--token-lifetime", "60", data_dir=data_dir)
    new = read_state(data_dir / "keys").published[-1]
    out = ok("keys", "activate", "--token-lifetime", "60", "--", new, data_dir=data_dir).stdout
    assert active(data_dir) == new and f"{old} is retiring" in " ".join(out.split())


def test_activate_the_active_key_says_so_and_changes_nothing(data_dir: Path) -> None:
    before = snapshot(data_dir / "keys")
    kid = active(data_dir)
    out = ok("keys", "activate", "--token-lifetime", "60", "--", kid, data_dir=data_dir).stdout
    assert f"{kid} is already the active key" in out
    assert snapshot(data_dir / "keys") == before


def test_activate_refuses_an_unknown_kid(data_dir: Path) -> None:
    message = refused(
        "keys", "activate", "--token-lifetime", "60", "--", "nope", data_dir=data_dir, code=2
    )
    assert "no published key 'nope'" in message


# --- retire -----------------------------------------------------------------------------------


def test_retire_refuses_while_tokens_may_be_valid_and_names_force(data_dir: Path) -> None:
    old = active(data_dir)
    rotate_now(data_dir)
    message = refused("keys", "retire", "--", old, data_dir=data_dir, code=1)
    assert "may be valid for" in message and "--force" in message


def test_retire_with_force_unpublishes_deletes_and_warns(data_dir: Path) -> None:
    old = active(data_dir)
    rotate_now(data_dir)
    result = ok("keys", "retire", "--force", "--", old, data_dir=data_dir)
    assert f"retired {old}" in result.stdout and "stop verifying" in result.stderr
    assert old not in read_state(data_dir / "keys").published
    assert not (data_dir / "keys" / f"{old}.pem").exists()


def test_retire_a_next_key_needs_no_force(data_dir: Path) -> None:
    ok("keys", "rotate", "--token-lifetime", "60", data_dir=data_dir)
    new = read_state(data_dir / "keys").published[-1]
    result = ok("keys", "retire", "--", new, data_dir=data_dir)
    assert result.stderr == "" and read_state(data_dir / "keys").next is None


def test_retire_refuses_the_active_key(data_dir: Path) -> None:
    message = refused(
        "keys", "retire", "--force", "--", active(data_dir), data_dir=data_dir, code=2
    )
    assert "is the active signing key" in message


def test_retire_refuses_an_unknown_kid(data_dir: Path) -> None:
    assert "no published key" in refused("keys", "retire", "--", "nope", data_dir=data_dir, code=2)


def test_suggested_commands_put_a_kid_starting_with_a_dash_after_double_dash() -> None:
    from certbound.cli.keys import _arg

    assert (_arg("-abc"), _arg("abc")) == ("-- -abc", "abc")
