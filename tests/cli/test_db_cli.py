"""`certbound db upgrade|current` against a real SQLite file, and its failure exit code."""

from __future__ import annotations

from pathlib import Path

from clirun import certbound as cli


def test_current_then_upgrade_then_current(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    before = cli("db", "current", "--database-url", url)
    assert before.returncode == 0, before.stderr
    assert "revision none" in before.stdout
    assert "run `certbound db upgrade`" in before.stdout
    up = cli("db", "upgrade", "--database-url", url)
    assert up.returncode == 0, up.stderr
    assert "(newest)" in up.stdout
    after = cli("db", "current", "--database-url", url)
    assert "up to date" in after.stdout
    assert cli("db", "upgrade", "--database-url", url).returncode == 0  # idempotent


def test_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    out = cli("db", "upgrade", "--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert out.returncode == 4
    assert "storage:" in out.stderr
    assert "Traceback" not in out.stderr


def test_unsupported_scheme_is_a_storage_error() -> None:
    out = cli("db", "current", "--database-url", "mysql://x@y/z")
    assert out.returncode == 4
    assert "storage:" in out.stderr
