"""Run the real `certbound` entry point in-process (fast, and the same code as the console script)."""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from certbound.cli import main

PASSPHRASE_ENVS = (
    "CERTBOUND_KEY_PASSPHRASE",
    "CERTBOUND_CA_PASSPHRASE",
    "CERTBOUND_P12_PASSPHRASE",
)


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        return self.stderr.strip()


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    """Run the real entry point (``certbound.cli.main``) in-process, as the console script does."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    saved_env = {k: os.environ.pop(k, None) for k in (*PASSPHRASE_ENVS, "COLUMNS")}
    sys.argv = ["certbound", *map(str, args)]
    os.environ.update({"COLUMNS": "1000", **(env or {})})  # one line per message
    code: int = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
        for name, value in saved_env.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    return CliResult(code, out.getvalue(), err.getvalue())
