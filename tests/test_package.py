"""The package's public surface and the CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import certbound


def test_version_is_exported() -> None:
    assert certbound.__all__ == ["__version__"]
    assert certbound.__version__.count(".") == 2


def test_cli_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "certbound", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"certbound {certbound.__version__}"


def test_the_server_path_loads_no_http_client_and_no_migration_tool() -> None:
    """Resident memory per worker (issue "Performance"): what `certbound serve` imports to run
    leaves out httpx (client library, jwks_uri fetcher: loaded on first use), Alembic,
    PostgreSQL's SQLAlchemy dialect and driver (loaded only for a postgresql:// database) and
    pydantic (~15 MiB; the settings are msgspec structs)."""
    unwanted = {
        "httpx", "httpcore", "alembic", "asyncpg", "sqlalchemy.dialects.postgresql",
        "pydantic", "pydantic_core", "pydantic_settings",
    }  # fmt: skip
    probe = (
        "import sys\n"
        "import certbound.cli, certbound.cli.serve, certbound.config.runtime\n"
        "import certbound.server.listeners, certbound.server.workers\n"
        "import certbound.storage.sql, certbound.storage.sql_tokens\n"
        "import certbound.storage.registration_tokens\n"
        "names = set(sys.modules) | {m.split('.')[0] for m in sys.modules}\n"
        f"print(sorted(names & set({sorted(unwanted)!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
