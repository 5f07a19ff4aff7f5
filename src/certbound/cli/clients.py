"""`certbound clients`: register and manage OAuth clients (RFC 7591 metadata as JSON).

The same validation path as the registration APIs (``core.registration_rules``); a running
server picks changes up without a restart.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from certbound.cli._common import EXIT_USAGE, CliError, console
from certbound.cli._options import ConfigOpt, DatabaseUrlOpt, DataDirOpt, settings_from
from certbound.config.compose import server_policy
from certbound.config.settings import Settings
from certbound.core.clients import Client
from certbound.core.errors import InvalidClientMetadataError
from certbound.core.ports import ConflictError, StorageError
from certbound.core.registration_rules import merge_update, validate_client_metadata
from certbound.pki import PkiError, export_jwk, load_certificates, read_file

if TYPE_CHECKING:  # SQLAlchemy is imported when a command runs, not for every `certbound` call
    from certbound.storage.sql import SqlStores

__all__ = ["app"]

app = typer.Typer(help="Register and manage OAuth clients.", no_args_is_help=True)

T = TypeVar("T")

MetadataOpt = Annotated[
    Path | None,
    typer.Option(
        "--metadata",
        "-m",
        help="RFC 7591 client metadata JSON file ('-' for stdin).",
        show_default=False,
    ),
]


def _settings(config: Path | None, data_dir: Path | None, database_url: str | None) -> Settings:
    return settings_from(config, {"data_dir": data_dir, "storage.database_url": database_url})


def _run(settings: Settings, action: Callable[[SqlStores], Awaitable[T]]) -> T:
    from certbound.storage.sql import open_store

    async def main() -> T:
        stores = await open_store(settings.database_url)
        try:
            return await action(stores)
        finally:
            await stores.close()

    try:
        return asyncio.run(main())
    except StorageError as exc:
        raise CliError(f"storage: {exc}", 4) from None


def _read_metadata(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read metadata {path}: {exc}", EXIT_USAGE) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"metadata {path} is not valid JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"metadata {path} must be a JSON object", EXIT_USAGE)
    return data


def _read_json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read {what} {path}: {exc}", EXIT_USAGE) from None


def _jwks_from_certs(paths: list[Path]) -> dict[str, Any] | None:
    """A JWK Set with one key per certificate (x5c = that certificate), for self-signed clients."""
    if not paths:
        return None
    keys = []
    for path in paths:
        try:
            certs = load_certificates(read_file(path), label=str(path))
        except PkiError as exc:
            raise CliError(f"--cert: {exc}", EXIT_USAGE) from None
        keys.append(export_jwk(certs[:1]))
    return {"keys": keys}


def _flag_metadata(**flags: Any) -> dict[str, Any]:
    """Flags override the metadata file; unset flags contribute nothing."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None or value == []:
            continue
        out[key] = value
    return out


def _validate(settings: Settings, raw: dict[str, Any]) -> Client:
    client_id = raw.pop("client_id", None)
    try:
        return validate_client_metadata(
            raw,
            client_id=client_id,
            now=int(time.time()),
            policy=server_policy(settings),
            generate_id=lambda: secrets.token_urlsafe(16),
        )
    except InvalidClientMetadataError as exc:
        raise CliError(f"invalid_client_metadata: {exc.description}", EXIT_USAGE) from None


def _print_client(client: Client) -> None:
    console.print_json(json.dumps({"client_id": client.client_id, **client.to_metadata()}))


@app.command("add")
def add(
    metadata: MetadataOpt = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Keep this client_id (default: generated).")
    ] = None,
    auth_method: Annotated[
        str | None,
        typer.Option(
            "--auth-method",
            help="token_endpoint_auth_method: tls_client_auth | self_signed_tls_client_auth.",
        ),
    ] = None,
    subject_dn: Annotated[
        str | None, typer.Option("--subject-dn", help="tls_client_auth_subject_dn (RFC 4514).")
    ] = None,
    san_dns: Annotated[
        str | None, typer.Option("--san-dns", help="tls_client_auth_san_dns.")
    ] = None,
    san_uri: Annotated[
        str | None, typer.Option("--san-uri", help="tls_client_auth_san_uri.")
    ] = None,
    san_ip: Annotated[str | None, typer.Option("--san-ip", help="tls_client_auth_san_ip.")] = None,
    san_email: Annotated[
        str | None, typer.Option("--san-email", help="tls_client_auth_san_email.")
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option("--jwks", help="JWK Set file with x5c (self_signed_tls_client_auth)."),
    ] = None,
    jwks_uri: Annotated[
        str | None, typer.Option("--jwks-uri", help="https URL of the client's JWK Set.")
    ] = None,
    cert: Annotated[
        list[Path] | None,
        typer.Option(
            "--cert",
            help="Self-signed certificate (PEM) to register in the client's jwks; repeatable.",
        ),
    ] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="Space-separated scopes the client may request.")
    ] = None,
    grant_type: Annotated[
        list[str] | None, typer.Option("--grant-type", help="Repeatable.")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Repeatable.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="client_name.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Register a client; prints the stored client as JSON."""
    settings = _settings(config, data_dir, database_url)
    raw = _read_metadata(metadata)
    raw.update(
        _flag_metadata(
            client_id=client_id,
            token_endpoint_auth_method=auth_method,
            tls_client_auth_subject_dn=subject_dn,
            tls_client_auth_san_dns=san_dns,
            tls_client_auth_san_uri=san_uri,
            tls_client_auth_san_ip=san_ip,
            tls_client_auth_san_email=san_email,
            jwks=_read_json_file(jwks, "--jwks") if jwks else _jwks_from_certs(cert or []),
            jwks_uri=jwks_uri,
            scope=scope,
            grant_types=grant_type,
            redirect_uris=redirect_uri,
            client_name=name,
        )
    )
    client = _validate(settings, raw)

    async def store(stores: SqlStores) -> None:
        try:
            await stores.clients.add(client)
        except ConflictError:
            raise CliError(f"client_id {client.client_id!r} is already registered", 1) from None

    _run(settings, store)
    _print_client(client)


@app.command("list")
def list_(
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """List registered clients."""
    settings = _settings(config, data_dir, database_url)
    clients = _run(settings, lambda s: s.clients.list())
    if json_out:
        console.print_json(
            json.dumps([{"client_id": c.client_id, **c.to_metadata()} for c in clients])
        )
        return
    table = Table("client_id", "method", "identity", "scope", "name")
    for c in clients:
        identity = next(
            (
                str(v)
                for v in (
                    c.tls_client_auth_subject_dn,
                    c.tls_client_auth_san_dns,
                    c.tls_client_auth_san_uri,
                    c.tls_client_auth_san_ip,
                    c.tls_client_auth_san_email,
                    c.jwks_uri,
                )
                if v
            ),
            "jwks" if c.jwks else "",
        )
        table.add_row(
            c.client_id,
            c.token_endpoint_auth_method,
            identity,
            " ".join(c.scope),
            c.client_name or "",
        )
    console.print(table)
    if not clients:
        console.print("no clients registered: add one with `certbound clients add`")


def _get(settings: Settings, client_id: str) -> Client:
    client = _run(settings, lambda s: s.clients.get(client_id))
    if client is None:
        raise CliError(f"no client {client_id!r}", 1)
    return client


@app.command("show")
def show(
    client_id: Annotated[str, typer.Argument(help="The client_id.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Print one client as JSON."""
    _print_client(_get(_settings(config, data_dir, database_url), client_id))


@app.command("update")
def update(
    client_id: Annotated[str, typer.Argument(help="The client_id.")],
    metadata: MetadataOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Replace a client's metadata (RFC 7592 style: the whole document; client_id is kept)."""
    if metadata is None:
        raise CliError("give the new metadata with --metadata FILE", EXIT_USAGE)
    settings = _settings(config, data_dir, database_url)
    existing = _get(settings, client_id)
    raw = _read_metadata(metadata)
    try:
        client = merge_update(existing, raw, now=int(time.time()), policy=server_policy(settings))
    except InvalidClientMetadataError as exc:
        raise CliError(f"invalid_client_metadata: {exc.description}", EXIT_USAGE) from None
    _run(settings, lambda s: s.clients.update(client))
    _print_client(client)


@app.command("remove")
def remove(
    client_id: Annotated[str, typer.Argument(help="The client_id.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Remove a client; a running server stops issuing it tokens within a second."""
    settings = _settings(config, data_dir, database_url)
    if not _run(settings, lambda s: s.clients.remove(client_id)):
        raise CliError(f"no client {client_id!r}", 1)
    console.print(f"removed client {client_id}")
