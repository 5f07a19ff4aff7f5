"""`certbound keys`: list, rotate, activate and retire the token signing keys (the JWKS).

The model is in ``certbound.keys.rotation``: ``rotate`` publishes a new key as *next* (in the JWKS,
not signing); it signs at once with ``--now``, after ``--activate-after`` seconds, or when
``keys activate KID`` is run. The key it replaces is *retiring* (still published) until every
token it signed has expired; then ``keys retire KID`` unpublishes it and deletes its file. A
running server follows the key directory within about a second: no restart.

Exit codes: 0 ok, 1 refused or failed (no keys yet, a corrupt state file, a next key already
waiting, tokens that may still be valid), 2 bad input (unknown kid, the active key, a bad
algorithm), 4 storage (reading the clients' token lifetimes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certbound.cli._common import EXIT_FAILURE, EXIT_USAGE, CliError, console, console_err
from certbound.cli._options import ConfigOpt, DatabaseUrlOpt, DataDirOpt, settings_from
from certbound.config.settings import Settings
from certbound.core.ports import StorageError
from certbound.keys.local import normalize_alg
from certbound.keys.rotation import (
    JWKS_MAX_AGE,
    KeyInfo,
    KeyRotationError,
    KeyRotationFailure,
    activate,
    list_keys,
    retire,
    rotate,
)

__all__ = ["app"]

app = typer.Typer(
    help="List, rotate, activate and retire the token signing keys.", no_args_is_help=True
)

_BAD_INPUT = {
    KeyRotationFailure.BAD_INPUT,
    KeyRotationFailure.UNKNOWN_KID,
    KeyRotationFailure.ACTIVE_KEY,
}

_KID_HELP = "The kid of a published key (one starting with '-' goes after `--`)."

TokenLifetimeOpt = Annotated[
    int | None,
    typer.Option(
        "--token-lifetime",
        min=1,
        help="Longest access token lifetime in seconds (default: the larger of"
        " tokens.access_token_lifetime and every client's access_token_lifetime).",
        show_default=False,
    ),
]


def _settings(config: Path | None, data_dir: Path | None, database_url: str | None) -> Settings:
    return settings_from(config, {"data_dir": data_dir, "storage.database_url": database_url})


def _keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def _fail(exc: KeyRotationError) -> CliError:
    return CliError(str(exc), EXIT_USAGE if exc.reason in _BAD_INPUT else EXIT_FAILURE)


def _when(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_lifetime(settings: Settings, explicit: int | None) -> int:
    """How long a token signed now may stay valid: the server default or a client's, if longer."""
    if explicit is not None:
        return explicit

    async def longest() -> int:
        from certbound.storage.sql import open_store

        stores = await open_store(settings.database_url)
        try:
            clients = await stores.clients.list()
        finally:
            await stores.close()
        lifetimes = [c.access_token_lifetime or 0 for c in clients]
        return max([settings.tokens.access_token_lifetime, *lifetimes])

    try:
        return asyncio.run(longest())
    except StorageError as exc:
        raise CliError(f"storage: {exc} (or give --token-lifetime)", 4) from None


def _arg(kid: str) -> str:
    """``kid`` as a command argument: after ``--`` when it starts with '-' (base64url may)."""
    return f"-- {kid}" if kid.startswith("-") else kid


def _row(info: KeyInfo) -> tuple[str, ...]:
    if info.state == "next":
        note = (
            f"signs from {_when(info.activate_at)}" if info.activate_at else "after `keys activate`"
        )
    elif info.state == "retiring":
        note = f"retire after {_when(info.not_after)}"
    else:
        note = ""
    return (info.kid, info.alg, info.state, _when(info.created), note, str(info.file))


@app.command("list")
def list_(
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List the published signing keys: kid, algorithm, state (active/next/retiring), file."""
    settings = _settings(config, data_dir, None)
    try:
        keys = list_keys(_keys_dir(settings))
    except KeyRotationError as exc:
        raise _fail(exc) from None
    if json_out:
        console.print_json(json.dumps([k.to_json() for k in keys]))
        return
    table = Table()
    for column in ("kid", "alg", "state", "created", "when", "file"):
        table.add_column(column, overflow="fold")  # a kid or a path is never cut short
    for info in keys:
        table.add_row(*_row(info))
    console.print(table)


@app.command("rotate")
def rotate_(
    alg: Annotated[
        str | None,
        typer.Option(
            "--alg",
            help="ES256 | PS256 | Ed25519 (default: tokens.signing_alg).",
            show_default=False,
        ),
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Sign with the new key at once.")] = False,
    activate_after: Annotated[
        int | None,
        typer.Option(
            "--activate-after",
            min=0,
            help=f"Sign with the new key after SECONDS (give relying parties >= {JWKS_MAX_AGE} s"
            " to refresh their JWKS cache). Default: wait for `keys activate`.",
            show_default=False,
        ),
    ] = None,
    token_lifetime: TokenLifetimeOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Generate a signing key and publish it in the JWKS as the next key."""
    if now and activate_after is not None:
        raise CliError("give --now or --activate-after, not both", EXIT_USAGE)
    settings = _settings(config, data_dir, database_url)
    wanted = alg or settings.tokens.signing_alg
    after = 0 if now else activate_after
    lifetime = _token_lifetime(settings, token_lifetime)
    try:
        result = rotate(_keys_dir(settings), wanted, token_lifetime=lifetime, activate_after=after)
    except KeyRotationError as exc:
        raise _fail(exc) from None
    new = result.kid
    console.print(f"published key {new} ({result.state.role(new)}) in the JWKS")
    if after is None:
        console.print(
            f"it does not sign yet: after at least {JWKS_MAX_AGE} s (relying parties cache the"
            f" JWKS), run `certbound keys activate {_arg(new)}`"
        )
    elif after == 0:
        _print_switch(new, result.previous, result.state.retiring[result.previous])
    else:
        pending = result.state.next
        console.print(f"it signs from {_when(pending.activate_at if pending else None)}")
    if normalize_alg(wanted) != settings.tokens.signing_alg:
        console_err.print(
            f"note: set tokens.signing_alg = {normalize_alg(wanted)!r} in the configuration before the server"
            " restarts (it refuses an active key of another algorithm)"
        )


def _print_switch(new: str, previous: str, not_after: int) -> None:
    console.print(f"{new} signs new tokens now (a running server follows within a second)")
    console.print(
        f"{previous} is retiring: its tokens may be valid until {_when(not_after)};"
        f" then run `certbound keys retire {_arg(previous)}`"
    )


@app.command("activate")
def activate_(
    kid: Annotated[str, typer.Argument(help=_KID_HELP)],
    token_lifetime: TokenLifetimeOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Make a published key (the next key, or a retiring one to roll back) sign new tokens."""
    settings = _settings(config, data_dir, database_url)
    lifetime = _token_lifetime(settings, token_lifetime)
    try:
        result = activate(_keys_dir(settings), kid, token_lifetime=lifetime)
    except KeyRotationError as exc:
        raise _fail(exc) from None
    if not result.changed:
        console.print(f"{kid} is already the active key")
        return
    _print_switch(kid, result.previous, result.state.retiring[result.previous])


@app.command("retire")
def retire_(
    kid: Annotated[str, typer.Argument(help=_KID_HELP)],
    force: Annotated[
        bool,
        typer.Option("--force", help="Retire even if tokens it signed may still be valid."),
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a key from the JWKS and delete its file; tokens it signed stop verifying."""
    settings = _settings(config, data_dir, None)
    try:
        result = retire(_keys_dir(settings), kid, force=force)
    except KeyRotationError as exc:
        if exc.reason is KeyRotationFailure.TOKENS_MAY_BE_VALID:
            raise CliError(f"{exc}; wait, or retire with --force", EXIT_FAILURE) from None
        raise _fail(exc) from None
    if result.early:
        console_err.print(f"warning: tokens signed by {kid} that had not expired stop verifying")
    console.print(f"retired {kid}: removed from the JWKS and its key file deleted")
