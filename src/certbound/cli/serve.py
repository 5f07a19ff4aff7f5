"""`certbound serve`: run the authorization server (issuer listener + mTLS alias listener).

With no configuration it runs on an embedded default: a data directory with a development CA, a
server certificate for localhost, a demo client certificate (registered as ``demo-client``), an
ES256 signing key and a SQLite database, all created on first run.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certbound.cli._common import EXIT_USAGE, CliError, console, console_err
from certbound.cli._options import (
    ConfigOpt,
    DatabaseUrlOpt,
    DataDirOpt,
    TlsCertOpt,
    TlsKeyOpt,
    TrustedProxyOpt,
    settings_from,
)
from certbound.config.settings import ConfigError, Settings
from certbound.core.clients import TLS_CLIENT_AUTH, Client

if TYPE_CHECKING:  # the server stack is imported when `serve` runs, not for every command
    from certbound.config.runtime import Runtime, TlsFiles
    from certbound.server.bootstrap import DevEnvironment
    from certbound.server.tls import DynamicServerContext

__all__ = ["serve"]


def _read_password(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise CliError(
            f"tls.key_password_file: cannot read {path}: {exc.strerror}", EXIT_USAGE
        ) from None


def _tls_files(settings: Settings) -> tuple[TlsFiles, DevEnvironment | None]:
    """Configured files, or the development defaults in the data directory (created on first run)."""
    from certbound.config.runtime import TlsFiles
    from certbound.server.bootstrap import ensure_dev_environment

    tls, trust = settings.tls, settings.trust
    if (tls.cert is None) != (tls.key is None):
        raise CliError(
            "give both --tls-cert and --tls-key (tls.cert and tls.key), or neither", EXIT_USAGE
        )
    env = None
    if tls.cert is None or trust.anchors is None:
        env = ensure_dev_environment(settings.data_dir)
    chain = tls.cert or (env.server_chain if env else None)
    key = tls.key or (env.server_key if env else None)
    anchors = trust.anchors or (env.trust_anchors if env else None)
    if chain is None or key is None or anchors is None:  # pragma: no cover - env covers all
        raise CliError("no TLS material", EXIT_USAGE)
    for what, path in (("tls.cert", chain), ("tls.key", key), ("trust.anchors", anchors)):
        if not path.is_file():
            raise CliError(f"{what}: {path} does not exist or is not a file", EXIT_USAGE)
    return TlsFiles(chain, key, anchors, _read_password(tls.key_password_file)), env


def _demo_client() -> Client:
    from certbound.server.bootstrap import DEMO_CLIENT_ID, DEMO_SUBJECT_DN

    return Client(
        client_id=DEMO_CLIENT_ID,
        token_endpoint_auth_method=TLS_CLIENT_AUTH,
        tls_client_auth_subject_dn=DEMO_SUBJECT_DN,
        scope=("read", "write"),
        client_name="certbound demo client",
    )


def _banner(settings: Settings, files: TlsFiles, env: DevEnvironment | None) -> None:
    console.print(f"[bold]certbound[/] authorization server — issuer [cyan]{settings.issuer}[/]")
    console.print(
        f"  issuer listener  https://{settings.server.host}:{settings.server.port}  (client certificate optional)"
    )
    console.print(
        f"  mTLS listener    https://{settings.server.host}:{settings.server.mtls_port}  (client certificate required)"
    )
    console.print(f"  database         {settings.database_url.split('@')[-1]}")
    console.print(f"  trust anchors    {files.anchors}")
    if env is None:
        return
    from certbound.server.bootstrap import DEMO_CLIENT_ID

    q = shlex.quote
    console.print(f"  data directory   {env.data_dir}{'  (created now)' if env.created else ''}")
    console.print("\n[bold]Try it[/] (demo client registered as [green]demo-client[/]):")
    console.print(
        f"  curl --cacert {q(str(env.trust_anchors))} --cert {q(str(env.demo_chain))} --key {q(str(env.demo_key))} \\\n"
        f"       -d grant_type=client_credentials -d client_id={DEMO_CLIENT_ID} "
        f"{settings.mtls_base_url}/token"
    )
    console.print(
        f"  curl --cacert {q(str(env.trust_anchors))} {settings.issuer}/.well-known/oauth-authorization-server"
    )
    console.print(
        "  certbound clients list"
        + (f" --data-dir {q(str(env.data_dir))}" if "CERTBOUND_DATA_DIR" not in os.environ else "")
    )


def serve(
    config: ConfigOpt = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind (default 127.0.0.1).", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Issuer listener port (default 8443).", show_default=False),
    ] = None,
    mtls_port: Annotated[
        int | None,
        typer.Option(
            "--mtls-port", help="mTLS alias listener port (default 8444).", show_default=False
        ),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(
            "--issuer", help="Issuer URL (default https://localhost:PORT).", show_default=False
        ),
    ] = None,
    mtls_base_url: Annotated[
        str | None,
        typer.Option(
            "--mtls-base-url",
            help="Base URL of the mTLS aliases (default https://localhost:MTLS_PORT).",
            show_default=False,
        ),
    ] = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchors",
            help="PEM bundle of CAs trusted for tls_client_auth.",
            show_default=False,
        ),
    ] = None,
    trusted_proxy: TrustedProxyOpt = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            metavar="N|auto",
            help="Worker processes sharing the listeners (default 1); auto: one per usable CPU.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    database_url: DatabaseUrlOpt = None,
    json_logs: Annotated[
        bool | None,
        typer.Option(
            "--json-logs",
            help='Log JSON lines, audit events included (log.format = "json").',
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            help="debug, info (default), warning or error; debug adds successful client "
            "authentications to the audit events.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the authorization server."""
    settings = settings_from(
        config,
        {
            "data_dir": data_dir,
            "server.host": host,
            "server.port": port,
            "server.mtls_port": mtls_port,
            "server.issuer": issuer,
            "server.mtls_base_url": mtls_base_url,
            "server.workers": workers,
            "tls.cert": tls_cert,
            "tls.key": tls_key,
            "trust.anchors": trust_anchors,
            "trust.trusted_proxies": tuple(trusted_proxy) if trusted_proxy else None,
            "storage.database_url": database_url,
            "log.format": "json" if json_logs else None,
            "log.level": log_level,
        },
    )
    from certbound.config.runtime import Runtime
    from certbound.ops.audit import configure_logging
    from certbound.server.listeners import ListenerGroup, ListenerSpec

    configure_logging(json_logs=settings.log.format == "json", level=settings.log.level_number)
    files, env = _tls_files(settings)
    demo = (_demo_client(),) if env is not None and env.created else ()
    if settings.server.workers > 1:
        from certbound.cli._serve_workers import serve_workers

        serve_workers(settings, files, env, demo)
        return
    try:
        runtime = Runtime.prepare(settings, files, register_on_start=demo)
        app = runtime.app()
        listeners = [
            ListenerSpec(
                settings.server.host,
                settings.server.port,
                _context(runtime, files, require=False),
                "issuer",
            ),
            ListenerSpec(
                settings.server.host,
                settings.server.mtls_port,
                _context(runtime, files, require=True),
                "mtls",
            ),
        ]
        group = ListenerGroup(app, listeners)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CliError(f"cannot listen: {exc.strerror or exc}", 1) from None
    _banner(settings, files, env)
    logging.getLogger("certbound.server").info("starting")
    try:
        group.run()
    except KeyboardInterrupt:  # pragma: no cover - a second ^C
        console_err.print("stopped")


def _context(runtime: Runtime, files: TlsFiles, *, require: bool) -> DynamicServerContext:
    from certbound.server.tls import DynamicServerContext

    try:
        context = DynamicServerContext(
            files.server_chain,
            files.server_key,
            trust=runtime.trust,
            require_client_cert=require,
            key_password=files.key_password,
            session_tickets=runtime.settings.tls.session_tickets,
        )
        context()  # build once now: a bad certificate or key fails before binding
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(f"tls.cert / tls.key: {exc}") from None
    return context
