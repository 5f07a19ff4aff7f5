"""`certbound db`: database schema migrations (Alembic, shipped inside the package)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from certbound.cli._common import CliError, console
from certbound.cli._options import ConfigOpt, DatabaseUrlOpt, DataDirOpt, settings_from
from certbound.core.ports import StorageError

__all__ = ["app"]

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)

EXIT_STORAGE = 4


def _url(config: Path | None, data_dir: Path | None, database_url: str | None) -> str:
    return settings_from(
        config, {"data_dir": data_dir, "storage.database_url": database_url}
    ).database_url


@app.command("upgrade")
def upgrade(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DatabaseUrlOpt = None
) -> None:
    """Bring the schema to the newest revision (safe to run from several hosts at once)."""
    from certbound.storage.engine import safe_url
    from certbound.storage.migrate import current_revision
    from certbound.storage.migrate import upgrade as run_upgrade

    url = _url(config, data_dir, database_url)
    try:
        asyncio.run(run_upgrade(url))
        revision = asyncio.run(current_revision(url))
    except StorageError as exc:
        raise CliError(f"storage: {exc}", EXIT_STORAGE) from None
    console.print(f"{safe_url(url)} is at revision {revision} (newest)")


@app.command("current")
def current(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DatabaseUrlOpt = None
) -> None:
    """Print the schema revision of the database and the newest one this certbound knows."""
    from certbound.storage.engine import safe_url
    from certbound.storage.migrate import current_revision, head_revision

    url = _url(config, data_dir, database_url)
    try:
        revision = asyncio.run(current_revision(url))
    except StorageError as exc:
        raise CliError(f"storage: {exc}", EXIT_STORAGE) from None
    head = head_revision()
    state = "up to date" if revision == head else "run `certbound db upgrade`"
    console.print(f"{safe_url(url)}: revision {revision or 'none'}; newest {head} ({state})")
