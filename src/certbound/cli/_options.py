"""Options shared by the commands that read the configuration (serve, clients, keys, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from certbound.cli._common import EXIT_USAGE, CliError
from certbound.config.settings import ConfigError, Settings, load_settings

__all__ = [
    "ConfigOpt",
    "DataDirOpt",
    "DatabaseUrlOpt",
    "TlsCertOpt",
    "TlsKeyOpt",
    "TrustedProxyOpt",
    "settings_from",
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (also CERTBOUND_CONFIG).",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default ~/.local/share/certbound).", show_default=False
    ),
]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db (default: SQLite in the data dir).",
        show_default=False,
    ),
]

# The listener options of the commands that serve HTTPS (serve, example-api).
TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert", help="Server certificate chain (PEM, leaf first).", show_default=False
    ),
]
TlsKeyOpt = Annotated[
    Path | None, typer.Option("--tls-key", help="Server private key (PEM).", show_default=False)
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy",
        help="CIDR of a TLS-terminating proxy whose certificate headers are believed (repeatable).",
        metavar="CIDR",
        show_default=False,
    ),
]


def settings_from(config: Path | None, overrides: dict[str, Any]) -> Settings:
    """Load settings (defaults < TOML < env < flags) or fail with a usage error naming the key."""
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
