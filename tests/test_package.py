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
