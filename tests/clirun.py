"""Run the `certbound` console script in a child process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys


def clean_environ() -> dict[str, str]:
    """This process's environment without any CERTBOUND_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTBOUND_")}


def certbound(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m certbound ARGS`` with no CERTBOUND_* setting from the caller's environment and
    a wide terminal (one line per message); never raises on a non-zero exit."""
    env = {**clean_environ(), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "certbound", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
