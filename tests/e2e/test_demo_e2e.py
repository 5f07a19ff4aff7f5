"""`certbound demo` runs the whole chain non-interactively and shows the 200 and the 401."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BUDGET = 30.0  # seconds the demo may take (the bound)


def run_demo(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "certbound", "demo", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # CI has no terminal: nothing may prompt
        env={**os.environ, "COLUMNS": "300"},
        timeout=BUDGET * 2,
        check=False,
    )
    return out, time.monotonic() - started


def test_demo_shows_the_bound_token_accepted_then_refused_with_another_certificate() -> None:
    out, elapsed = run_demo()
    assert out.returncode == 0, out.stdout + out.stderr
    assert elapsed < BUDGET
    text = out.stdout
    assert re.search(
        r"GET https://127\.0\.0\.1:\d+/accounts with demo-client\.pem and the token → 200 OK", text
    )
    assert re.search(r"with other-client\.pem and the SAME token → 401 Unauthorized", text)
    assert "invalid_token: the token is bound to another certificate" in text
    thumbprint = re.search(r"demo-client\s+CN=demo-client,O=certbound demo\s+x5t#S256 (\S+)", text)
    assert thumbprint and f"cnf.x5t#S256 {thumbprint[1]} = the certificate's thumbprint" in text
    workdir = re.search(r"data directory (\S+) \(temporary", text)
    assert workdir and not Path(workdir[1]).exists()  # the temporary files are removed


def test_demo_in_a_data_directory_keeps_its_files(tmp_path: Path) -> None:
    out, _elapsed = run_demo("--data-dir", str(tmp_path / "data"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "→ 401 Unauthorized" in out.stdout
    for kept in ("ca/root.pem", "demo/demo-client.pem", "demo/other-client.pem", "certbound.db"):
        assert (tmp_path / "data" / kept).is_file(), kept
